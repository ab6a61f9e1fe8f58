from mcuq.cli import main

raise SystemExit(main())
