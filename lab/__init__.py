"""The lab's logic: model registry and loading, task inference and post-processing.

Nothing here imports gradio, so every function is testable without a browser.
"""
