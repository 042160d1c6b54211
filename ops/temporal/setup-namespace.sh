#!/bin/sh
# One-shot (temporalio/admin-tools): wait for the Temporal frontend, make sure the namespace exists and
# register the TradingSaga search attributes (temporal/search-attributes.ts), the same ones the local
# dev server gets from `--search-attribute`. Idempotent: only missing attributes are created.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
# "Name=Type" pairs, space separated, e.g. "OrderId=Keyword AccountId=Keyword".
: "${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES is required}"

# retry SECONDS WHAT COMMAND...: run COMMAND once a second until it succeeds.
retry() {
  limit=$1 what=$2 n=0
  shift 2
  until "$@" >/dev/null 2>&1; do
    n=$((n + 1))
    if [ "$n" -ge "$limit" ]; then
      echo "gave up after $limit s: $what" >&2
      "$@" # once more, with its error visible
      exit 1
    fi
    sleep 1
  done
}

retry 180 "Temporal at $TEMPORAL_ADDRESS is not healthy" temporal operator cluster health
echo "Temporal at $TEMPORAL_ADDRESS is serving"

if temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  retry 30 "cannot create namespace $NAMESPACE" \
    sh -c "temporal operator namespace describe --namespace '$NAMESPACE' || temporal operator namespace create --namespace '$NAMESPACE' --retention 72h"
  echo "namespace $NAMESPACE created"
fi
# A new namespace reaches the frontend's cache within about 10 s.
retry 60 "namespace $NAMESPACE is not visible" temporal operator search-attribute list --namespace "$NAMESPACE"

registered() {
  temporal operator search-attribute list --namespace "$NAMESPACE" | grep -qw "$1"
}

for pair in $SEARCH_ATTRIBUTES; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if registered "$name"; then
    echo "search attribute $name exists"
  else
    retry 30 "cannot create search attribute $name" \
      sh -c "temporal operator search-attribute list --namespace '$NAMESPACE' | grep -qw '$name' || temporal operator search-attribute create --namespace '$NAMESPACE' --name '$name' --type '$type'"
    echo "search attribute $name ($type) created"
  fi
done

for pair in $SEARCH_ATTRIBUTES; do
  retry 30 "search attribute ${pair%%=*} is still missing" registered "${pair%%=*}"
done
# The frontend caches namespace metadata for up to 10 s: let it see the new attributes before the api
# and the workers start sagas that set them.
sleep 11
echo "namespace $NAMESPACE ready with: $SEARCH_ATTRIBUTES"
