#!/bin/sh
# hidden: never collected
exit 1
