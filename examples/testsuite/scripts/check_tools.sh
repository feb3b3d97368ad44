#!/bin/sh
# the tools the other scripts need are there
for tool in sort uniq wc; do
    command -v "$tool" >/dev/null || { echo "missing: $tool"; exit 1; }
done
echo "tools ok"
