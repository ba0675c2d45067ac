#!/bin/sh
# mkcerts.sh DIR — the certificates the TLS tests use, made with openssl(1)
# at test time (nothing secret is checked in):
#   ca.pem/ca.key           the trusted CA
#   server.*                CN=localhost, SAN localhost + 127.0.0.1 + ::1, by ca
#   server2.*               the same names, a new key (rotation), by ca
#   client1.*, client2.*    CN=client1|client2,O=Roost, by ca
#   wronghost.*             CN=wrong.example, SAN wrong.example only, by ca
#   expired.*               CN=expired,O=Roost, by ca, valid in 2020 only
#   rogue-ca.pem            a second CA nobody trusts
#   rogue.*                 CN=rogue,O=Roost (and SAN localhost), by rogue-ca
#   member3.*               CN=member3,O=Roost, SAN 127.0.0.3 only, by ca
# Each NAME has NAME.pem (certificate), NAME.key (PKCS8 key),
# NAME-keystore.pem (key + certificate: a ZooKeeper PEM key store) and
# NAME.p12 (PKCS12, password "secret").  server-enc-keystore.pem holds
# server's key encrypted with "secret".  truststore.pem = ca.pem.
set -eu
d=$1
mkdir -p "$d"
cd "$d"
[ -f .done ] && exit 0

key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null; }

ca() {  # ca NAME CN
  key "$1"
  openssl req -x509 -new -key "$1.key" -days 3650 -subj "/O=Roost Test/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -out "$1.pem"
}

leaf() {  # leaf NAME SUBJECT SAN CA
  key "$1"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n%s\n' \
    "${3:+subjectAltName=$3}" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -CAcreateserial \
    -days 3650 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  bundle "$1"
}

bundle() {
  cat "$1.key" "$1.pem" > "$1-keystore.pem"
  openssl pkcs12 -export -inkey "$1.key" -in "$1.pem" -name "$1" \
    -passout pass:secret -out "$1.p12"
}

ca ca "Roost Test CA"
ca rogue-ca "Rogue CA"
leaf server "/O=Roost/CN=localhost" "DNS:localhost,IP:127.0.0.1,IP:::1" ca
leaf server2 "/O=Roost/CN=localhost" "DNS:localhost,IP:127.0.0.1,IP:::1" ca
leaf client1 "/O=Roost/CN=client1" "" ca
leaf client2 "/O=Roost/CN=client2" "" ca
leaf wronghost "/O=Roost/CN=wrong.example" "DNS:wrong.example" ca
leaf rogue "/O=Roost/CN=rogue" "DNS:localhost,IP:127.0.0.1" rogue-ca
leaf member3 "/O=Roost/CN=member3" "IP:127.0.0.3" ca

# Expired: openssl ca takes explicit dates (x509 -req only counts days).
mkdir -p ca-db
: > ca-db/index.txt
echo 1000 > ca-db/serial
cat > ca-db/ca.cnf <<CNF
[ca]
default_ca = test
[test]
dir = ca-db
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
organizationName = optional
[ext]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
CNF
key expired
openssl req -new -key expired.key -subj "/O=Roost/CN=expired" -out expired.csr
openssl ca -batch -config ca-db/ca.cnf -extensions ext -notext \
  -startdate 20200101000000Z -enddate 20200201000000Z \
  -in expired.csr -out expired.pem 2>/dev/null
bundle expired

openssl pkcs8 -topk8 -in server.key -v2 aes-256-cbc -passout pass:secret \
  -out server-enc.key
cat server-enc.key server.pem > server-enc-keystore.pem
cp ca.pem truststore.pem
touch .done
