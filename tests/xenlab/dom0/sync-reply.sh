#!/bin/sh
# sync-reply.sh - host b's side of one lab_sync meeting (run by socat for
# the connection from host a): keep a's line, answer with b's.
read -r line
echo "$line" > /run/lab/sync.in
cat /run/lab/sync.out
