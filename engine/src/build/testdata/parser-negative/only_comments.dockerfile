# Hello
# These are just comments

