"""mirrored_run.py is a script the tests run in a subprocess, not a test module:
importing it (doctest collection) would reconfigure TensorFlow's CPUs after start."""

collect_ignore = ["mirrored_run.py"]
