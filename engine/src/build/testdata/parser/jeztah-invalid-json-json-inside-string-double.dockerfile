CMD "[\"echo\", \"Phew, I just managed to escaped those double quotes\"]"
