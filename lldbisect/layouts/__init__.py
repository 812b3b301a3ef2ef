"""Layouts: relinking a build at other paddings, and predicting which of them fail."""
