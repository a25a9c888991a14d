"""Facts: what DNS (and the app's settings) say, computed in Python. Rules only compare them."""
