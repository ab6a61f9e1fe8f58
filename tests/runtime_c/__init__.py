"""Tests of the C kernels of runtime_c/, one file per kernel family (convolution, depthwise
convolution, fully connected, elementwise, pooling, LUT and softmax, data movement, requantize), plus
the int16 kernels (test_kernels_s16.py), the real DSP and Helium instructions under QEMU
(test_kernels_qemu.py) and the shape of the C sources (test_runtime_c_shape.py).

The int8 family files run every test on each kernel path the host can run, the portable C and the DSP
path on C emulations of its instructions (the `kernel_variant` fixture of conftest.py), and call the C
through the one harness of tests/helpers/kernel_harness.py; their random layers come from
tests/helpers/kernel_layers.py."""
