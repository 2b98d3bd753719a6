"""Daoxiang (稻香): a shop for premium agricultural products."""
