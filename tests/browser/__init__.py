"""Dashboard tests in real headless Chromium, and the sample results they share."""
