/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TLS (OpenSSL 3) for the transport protocol: the contexts of a tcp
 * output (client) and of `ringtap collect` (server), and error texts that
 * say why a handshake or a file failed.  docs/stream-protocol.md,
 * section 8.
 */
#ifndef RINGTAP_TLS_H
#define RINGTAP_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* Which file a context could not use. */
enum rt_tls_file {
	RT_TLS_CA,   /* tls_ca, --tls-client-ca */
	RT_TLS_CERT, /* tls_cert, --tls-cert */
	RT_TLS_KEY,  /* tls_key, --tls-key */
};

/*
 * A client context: TLS 1.2 or later, the server's certificate verified
 * against @ca (a PEM file or a hashed directory; NULL: the system store),
 * and the client certificate @cert with its key @key if not NULL.  NULL on
 * error, with the reason in @err and the file at fault in @which.
 */
SSL_CTX *rt_tls_client_ctx(const char *ca, const char *cert, const char *key,
			   char *err, size_t errlen, enum rt_tls_file *which);

/*
 * A server context: @cert (chain) and @key; with @client_ca, clients must
 * present a certificate that verifies against it.
 */
SSL_CTX *rt_tls_server_ctx(const char *cert, const char *key,
			   const char *client_ca, char *err, size_t errlen,
			   enum rt_tls_file *which);

/* Set up @ssl to verify the server name @name (a DNS name or an IP
 * address; SNI for names only).  0 or -1. */
int rt_tls_set_peer_name(SSL *ssl, const char *name);

/*
 * Why the last SSL_* call on @ssl failed, with @ret its return value: the
 * verification result when a certificate was refused, else OpenSSL's
 * error queue (which this empties), else the errno or "closed by the
 * peer".  Into @buf; returns @buf.
 */
const char *rt_tls_why(SSL *ssl, int ret, char *buf, size_t len);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384", and the peer's subject if any. */
const char *rt_tls_describe(SSL *ssl, char *buf, size_t len);

#endif
