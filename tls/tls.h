/* tls — TLS for Roost's connections with OpenSSL 3 (Debian's libssl-dev),
 * configured with ZooKeeper's ssl.* keys (docs in README.md, "TLS").
 *
 * No sockets and no threads here: a struct tls_conn is an OpenSSL engine
 * between two memory BIOs.  The owner feeds it the bytes it read from the
 * socket (tls_conn_feed), takes plaintext out (tls_conn_read), hands it
 * plaintext to send (tls_conn_write) and sends whatever ciphertext it
 * produced (tls_conn_take_out).  So it runs on any event loop (the server's
 * libuv loop, libroost's I/O thread) without blocking it: a truncated or
 * garbage handshake only ever makes a call return an error.
 *
 *   socket --read--> tls_conn_feed --> [SSL] --> tls_conn_read --> frames
 *   frames --> tls_conn_write --> [SSL] --> tls_conn_take_out --write--> socket
 *
 * A struct tls_ctx holds the key store, trust store and protocol settings
 * (an SSL_CTX).  tls_ctx_reload re-reads the store files when they changed
 * on disk; connections made afterwards use the new certificates while
 * established ones keep the context they started with (OpenSSL counts the
 * references), so rotation drops nobody.
 *
 * Stores: PEM (a key store file holds the private key, optionally
 * encrypted with the password, and its certificate chain; a trust store
 * file holds certificates) and PKCS12, as ZooKeeper 3.8 reads them.  JKS
 * and BCFKS need Java: refused with the keytool command that converts them.
 *
 * Thread safety: a tls_ctx may be used by connections on one thread while
 * nobody reloads it; a tls_conn belongs to one thread.  No global state
 * besides OpenSSL's own (initialised by OpenSSL itself on first use). */
#ifndef ROOST_TLS_H
#define ROOST_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TLS_ERRMSG_MAX 512
#define TLS_PATH_MAX 4096

/* ZooKeeper's X509Util settings, one set per use: ssl.* for the client
 * port, ssl.quorum.* for the peer port.  Plain values, copied by
 * tls_ctx_new. */
struct tls_options {
  char key_store_location[TLS_PATH_MAX]; /* ssl.keyStore.location, "" none */
  char key_store_password[256];          /* ssl.keyStore.password */
  char key_store_type[16];               /* ssl.keyStore.type: PEM, PKCS12;
                                            "" = from the file name or its
                                            contents */
  char key_location[TLS_PATH_MAX];       /* the private key in a PEM file of its
                                            own (clients: --key, the form of
                                            zookeeper_init_ssl); "" = in the key
                                            store */
  char trust_store_location[TLS_PATH_MAX]; /* ssl.trustStore.location, ""
                                              = the system's CAs */
  char trust_store_password[256];
  char trust_store_type[16];
  char client_auth[8];         /* ssl.clientAuth: need (default), want,
                                  none; servers only */
  char protocol[16];           /* ssl.protocol: TLSv1.2, TLSv1.3 (default)
                                  or TLS */
  char enabled_protocols[128]; /* ssl.enabledProtocols: comma list; ""
                                  = the protocol (TLSv1.3 adds TLSv1.2,
                                  as ZooKeeper 3.8 on Java 11+ does) */
  char ciphersuites[2048];     /* ssl.ciphersuites: comma list of IANA
                                  (Java) names; "" = OpenSSL's defaults */
  bool hostname_verification;  /* ssl.hostnameVerification, default
                                  true: clients check the server's name
                                  or address against its certificate */
};

/* Defaults as ZooKeeper 3.8 has them. */
void tls_options_defaults(struct tls_options *o);

enum tls_role { TLS_ROLE_SERVER, TLS_ROLE_CLIENT };

struct tls_ctx;

/* Build a context from o (copied).  `label` prefixes messages about keys
 * ("ssl." or "ssl.quorum.": errors name the key, e.g. "ssl.keyStore
 * .location '/x.jks' is a Java KeyStore ...").  A server needs a key store;
 * a client may go without one (no client certificate).  Returns 0 and sets
 * *out (free with tls_ctx_free), or -1 with errmsg. */
int tls_ctx_new(const struct tls_options *o, enum tls_role role,
                const char *label, struct tls_ctx **out,
                char errmsg[TLS_ERRMSG_MAX]);
void tls_ctx_free(struct tls_ctx *ctx);

/* Re-read the stores if a store file changed (inode, size, mtime or
 * ctime) since the last successful load.  Returns 1 when a new context is
 * in place, 0 when nothing changed (or the same failure as last time), -1
 * with errmsg when the changed files could not be loaded: the old context
 * stays in use and the next change is tried again.  Existing connections
 * are not affected either way. */
int tls_ctx_reload(struct tls_ctx *ctx, char errmsg[TLS_ERRMSG_MAX]);

/* How many times a reload put a new context in place. */
unsigned tls_ctx_generation(const struct tls_ctx *ctx);

/* The SHA-256 fingerprint (hex) of the context's own certificate, "" when
 * it has none.  Borrowed until the next reload. */
const char *tls_ctx_cert_fingerprint(const struct tls_ctx *ctx);

struct tls_conn;

/* A connection on ctx.  Clients: `host` (copied; may be NULL) is sent as
 * SNI when it is a name and, with hostname verification, must match the
 * server's certificate (a name or an IP address); the ClientHello is
 * ready in tls_conn_take_out at once.  Servers: `host` (may be NULL) is
 * the address the client came from and, with hostname verification, a
 * certificate the client presents must name it (ZooKeeper's quorum
 * hostname check of the dialling member).  Returns NULL when out of
 * memory.  Free with tls_conn_free. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const char *host);
void tls_conn_free(struct tls_conn *c);

enum tls_status {
  TLS_OK = 0,
  TLS_ERROR = -1, /* handshake or record failure: tls_conn_errmsg */
  TLS_EOF = -2,   /* the peer sent close_notify */
};

/* Hand the engine n bytes read from the peer.  Drives the handshake; once
 * it completes, plaintext queued by tls_conn_write is encrypted.  Returns
 * TLS_OK or TLS_ERROR (the connection is unusable then). */
int tls_conn_feed(struct tls_conn *c, const void *data, size_t n);

/* Take up to cap bytes of plaintext.  Returns the count (> 0), 0 when no
 * plaintext is ready, TLS_EOF or TLS_ERROR. */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t cap);

/* Encrypt n bytes (copied).  Before the handshake completes they wait
 * inside (bounded by the caller, who only writes what its protocol
 * allows).  Returns TLS_OK, or TLS_ERROR (out of memory or a failed
 * connection). */
int tls_conn_write(struct tls_conn *c, const void *data, size_t n);

/* Ciphertext waiting to be sent, and taking it: copies up to cap bytes
 * into buf and returns the count. */
size_t tls_conn_pending_out(const struct tls_conn *c);
size_t tls_conn_take_out(struct tls_conn *c, void *buf, size_t cap);

/* Queue a close_notify alert (then send tls_conn_take_out's bytes). */
void tls_conn_shutdown(struct tls_conn *c);

bool tls_conn_handshake_done(const struct tls_conn *c);

/* The peer's certificate subject as an RFC 2253 distinguished name
 * ("CN=client,O=Example"), as Java's X500Principal.getName() writes it,
 * when the peer presented a certificate that verified.  Returns the
 * length, or -1 (no verified certificate, or it does not fit cap). */
int tls_conn_peer_dn(const struct tls_conn *c, char *buf, size_t cap);

/* The negotiated protocol and cipher ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
 * "" before the handshake.  Borrowed while c lives. */
const char *tls_conn_protocol(const struct tls_conn *c);
const char *tls_conn_cipher(const struct tls_conn *c);

/* Why the last call failed, e.g. "certificate verify failed: certificate
 * has expired" or "peer did not return a certificate".  Borrowed while c
 * lives. */
const char *tls_conn_errmsg(const struct tls_conn *c);

#endif /* ROOST_TLS_H */
