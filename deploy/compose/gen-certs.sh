#!/bin/sh
# Makes the compose demo's certificates, once: a CA, a server (and peer) certificate for each etcd
# member, and the client certificate that zoneproxy and etcdctl present (mutual TLS).
#
#   sh gen-certs.sh DIR
#
# The compose file runs it in an alpine container (after `apk add openssl`) on the certs volume; it
# runs as well on any host with a POSIX sh and OpenSSL 1.1.1 or later. It does nothing when every file
# is already there; delete DIR (docker compose down -v) to start again.
#
# Environment:
#   ETCD_MEMBERS     the etcd members' host names (default "etcd-a etcd-b etcd-c")
#   CLIENT_UID/GID   owner of client.key, which zoneproxy reads as a non-root user (default 636:636,
#                    the image's user); the other keys stay readable by their owner only
#   CERT_DAYS        validity (default 825)
#
# Files: ca.crt; <member>.crt, <member>.key for each member; client.crt, client.key. The CA's key is
# deleted at the end: this is a demo CA that signs nothing else.
set -eu

dir=${1:?usage: gen-certs.sh DIR}
members=${ETCD_MEMBERS:-etcd-a etcd-b etcd-c}
client_uid=${CLIENT_UID:-636}
client_gid=${CLIENT_GID:-636}
days=${CERT_DAYS:-825}

complete=yes
for f in ca.crt client.crt client.key; do
	[ -s "$dir/$f" ] || complete=no
done
for m in $members; do
	[ -s "$dir/$m.crt" ] && [ -s "$dir/$m.key" ] || complete=no
done
if [ "$complete" = yes ]; then
	echo "gen-certs: certificates already in $dir"
	exit 0
fi

mkdir -p "$dir"
work=$(mktemp -d "$dir/.gen-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
umask 077

# key FILE: a new P-256 private key.
key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# sign NAME CN EXTENSIONS: NAME.crt for NAME.key, with common name CN, signed by the CA.
sign() {
	printf '%s\n' "basicConstraints = critical, CA:FALSE" "keyUsage = critical, digitalSignature" "$3" >"$1.ext"
	openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
		-days "$days" -sha256 -extfile "$1.ext" -out "$1.crt"
}

key ca.key
openssl req -x509 -new -key ca.key -subj "/CN=zoneproxy demo CA" -days "$days" -sha256 \
	-addext "basicConstraints = critical, CA:TRUE" \
	-addext "keyUsage = critical, keyCertSign, cRLSign" -out ca.crt

for m in $members; do
	key "$m.key"
	# serverAuth for the clients, clientAuth for the other members (peer TLS uses the same pair).
	sign "$m" "$m" "subjectAltName = DNS:$m, DNS:localhost, IP:127.0.0.1
extendedKeyUsage = serverAuth, clientAuth"
done

key client.key
sign client zoneproxy "extendedKeyUsage = clientAuth"

rm -f ca.key ./*.csr ./*.ext
chmod 0644 ./*.crt
chmod 0600 ./*.key
chown "$client_uid:$client_gid" client.key
chmod 0400 client.key
mv ./*.crt ./*.key "$dir"/
echo "gen-certs: wrote ca.crt, client.crt/.key and the certificates of $members to $dir"
