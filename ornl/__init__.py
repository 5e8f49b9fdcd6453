"""ORNL recipe on TensorFlow/Keras (needs the `ornl` or `ornl-cpu` extra)."""
