"""The Trainer's engine: an Estimator on TensorFlow 2.21 and Keras 3.

The Estimator lives in ``components.trainer.estimator``; import it from there, e.g.
``from components.trainer import estimator as tf_estimator``. This package imports
nothing heavy itself, so ``import components.trainer`` stays free of TensorFlow.
"""
