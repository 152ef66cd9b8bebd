"""Reference implementations, one module per lecture topic. They know nothing of grading."""
