"""Safe image decoding: format allow-list, pixel limit, orientation, thumbnails."""
