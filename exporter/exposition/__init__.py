"""The exposition: metric families as columns, the text renderer, the served page and its compression."""
