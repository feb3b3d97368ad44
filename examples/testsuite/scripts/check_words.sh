#!/bin/sh
# runs in its own directory: words.txt is next to it
test "$(sort words.txt | uniq | wc -l)" -eq 3
