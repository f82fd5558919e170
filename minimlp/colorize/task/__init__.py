"""The colorizer's task maths: the arrays in and out, chroma bins and their loss, the scores."""
