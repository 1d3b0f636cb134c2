"""The exposition: metric families as columns, the text renderer and the gzip copy."""
