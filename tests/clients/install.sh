#!/usr/bin/env bash
# Install the AWS clients the tests run beyond botocore and the PyPI AWS CLI v1 (the AWS CLI
# v2 and the AWS SDKs for Go v2 and v1, as Debian packages them), and build the Go test
# programs (tests/clients/go) from Debian's packaged SDK sources, offline. Where Node.js and
# npm are installed, also the AWS SDK for JavaScript v3 (@aws-sdk/client-sts, pinned) from
# the npm registry.
#
# Idempotent: packages already installed are not touched (no apt-get update then), the Go
# build is incremental (a fraction of a second once built), and npm runs only when the
# pinned SDK is not there yet. Without root or apt-get (or npm) it installs nothing and says
# so; the tests of a missing client are then skipped, with the reason shown in pytest's
# summary (-ra).
#
# The programs go to ~/.cache/ecs-xrole/test-clients (tests/sdk_clients.py looks there), the
# Go build cache to ~/.cache/ecs-xrole/go-build.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${HOME:?HOME must be set}/.cache/ecs-xrole"
packages=(awscli golang-go golang-github-aws-aws-sdk-go-v2-dev golang-github-aws-aws-sdk-go-dev)
gopath=/usr/share/gocode
js_sdk="@aws-sdk/client-sts@3.1178.0"

say() { printf 'tests/clients/install.sh: %s\n' "$*" >&2; }

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for package in "${packages[@]}"; do
        status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
        if [[ "$status" != "install ok installed" ]]; then
            missing+=("$package")
        fi
    done
else
    say "not a Debian-based system: installing nothing (the tests of missing clients skip)"
fi

if ((${#missing[@]})); then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    else
        say "not installing ${missing[*]} (needs root and apt-get): their tests skip"
    fi
fi

mkdir -p "$cache/test-clients" "$cache/go-build"

js="$cache/test-clients/js"
installed="$js/node_modules/@aws-sdk/client-sts/package.json"
if ! command -v npm >/dev/null 2>&1; then
    say "no npm: the JavaScript SDK tests skip"
elif ! grep -qs "\"version\": \"${js_sdk##*@}\"" "$installed"; then
    say "installing $js_sdk with npm"
    npm install --silent --no-audit --no-fund --no-save --prefix "$js" "$js_sdk" ||
        say "npm install $js_sdk failed: the JavaScript SDK tests skip"
fi

if ! command -v go >/dev/null 2>&1; then
    say "no Go toolchain: the Go SDK tests skip"
    exit 0
fi

# GOPATH mode over Debian's packaged sources: no module download, no network.
export GO111MODULE=off GOPATH="$gopath" GOPROXY=off GOFLAGS=''
export GOCACHE="$cache/go-build" GOTOOLCHAIN=local
# Go 1.19 ships its standard library compiled with cgo: keep cgo when a C compiler is there
# (a cold build then takes about 12 s), else build without it (the library is recompiled).
command -v "${CC:-gcc}" >/dev/null 2>&1 || export CGO_ENABLED=0
for program in sdkv2:aws-sdk-go-v2 sdkv1:aws-sdk-go; do
    name="${program%%:*}"
    sources="$gopath/src/github.com/aws/${program#*:}"
    if [[ -d "$sources" ]]; then
        # GOPATH mode takes no absolute package path: build "." from the program's directory.
        (cd "$here/go/$name" && go build -o "$cache/test-clients/go-$name" .)
    else
        say "no $sources: the Go SDK ${name#sdk} tests skip"
    fi
done
