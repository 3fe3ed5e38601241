"""taxi_module.py is a Transform module file that the tests read, not a test module:
collecting it (doctests) would import tensorflow-transform into every test process."""

collect_ignore = ["taxi_module.py"]
