"""The loop's and the data's config defaults, the field checks shared by the families, and the
validation of a whole config (the loop's fields here, the rest handed to the family)."""
