"""Code the test suites share: paths, the C kernel library and its calling harness, random layers,
model builders and arena checks. Nothing here is collected as a test."""
