// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TLS contexts and error texts shared by ringtapd's tcp outputs and
 * `ringtap collect` (include/ringtap/tls.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ringtap/tls.h"

/* The first error of OpenSSL's queue as text (the queue is emptied). */
static void queue_err(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_get_error(), last;

	if (!e) {
		snprintf(buf, len, "%s", fallback);
		return;
	}
	/* the first error is the cause; later ones are its consequences */
	while ((last = ERR_get_error()))
		;
	ERR_error_string_n(e, buf, len);
	/* "error:0A000086:SSL routines::certificate verify failed": keep
	 * the words after the last "::" or ':' group */
	{
		const char *p = strstr(buf, "::");
		const char *r = p ? p + 2 : NULL;

		if (!r) {
			r = strrchr(buf, ':');
			r = r ? r + 1 : buf;
		}
		memmove(buf, r, strlen(r) + 1);
	}
}

static SSL_CTX *new_ctx(const SSL_METHOD *m, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(m);

	if (!ctx) {
		queue_err(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* SSL_write() returns after each record; the caller keeps its
	 * position and may hand the same bytes at another address */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

static int load_ca(SSL_CTX *ctx, const char *ca)
{
	struct stat sb;

	if (stat(ca, &sb) == 0 && S_ISDIR(sb.st_mode))
		return SSL_CTX_load_verify_locations(ctx, NULL, ca);
	return SSL_CTX_load_verify_locations(ctx, ca, NULL);
}

static int load_cert_key(SSL_CTX *ctx, const char *cert, const char *key,
			 char *err, size_t errlen, enum rt_tls_file *which)
{
	char why[200];

	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		queue_err(why, sizeof(why), "unusable");
		snprintf(err, errlen, "'%s': not a PEM certificate (%s)", cert, why);
		*which = RT_TLS_CERT;
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		queue_err(why, sizeof(why), "unusable");
		if (strstr(why, "mismatch"))
			snprintf(err, errlen, "'%s' is not the key of the certificate '%s' (%s)",
				 key, cert, why);
		else
			snprintf(err, errlen, "'%s': not a PEM private key (%s)",
				 key, why);
		*which = RT_TLS_KEY;
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		queue_err(why, sizeof(why), "mismatch");
		snprintf(err, errlen, "'%s' is not the key of the certificate '%s' (%s)",
			 key, cert, why);
		*which = RT_TLS_KEY;
		return -1;
	}
	return 0;
}

SSL_CTX *rt_tls_client_ctx(const char *ca, const char *cert, const char *key,
			   char *err, size_t errlen, enum rt_tls_file *which)
{
	SSL_CTX *ctx = new_ctx(TLS_client_method(), err, errlen);
	char why[200];

	*which = RT_TLS_CA;
	if (!ctx)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca ? load_ca(ctx, ca) != 1 :
		 SSL_CTX_set_default_verify_paths(ctx) != 1) {
		queue_err(why, sizeof(why), "unusable");
		snprintf(err, errlen, "'%s': no usable CA certificates (%s)",
			 ca ? ca : "system store", why);
		goto fail;
	}
	if (cert && load_cert_key(ctx, cert, key, err, errlen, which) < 0)
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *rt_tls_server_ctx(const char *cert, const char *key,
			   const char *client_ca, char *err, size_t errlen,
			   enum rt_tls_file *which)
{
	SSL_CTX *ctx = new_ctx(TLS_server_method(), err, errlen);
	char why[200];

	*which = RT_TLS_CERT;
	if (!ctx)
		return NULL;
	/* no session resumption: a channel lives long, and tickets would
	 * only cost a message per connection */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (load_cert_key(ctx, cert, key, err, errlen, which) < 0)
		goto fail;
	if (client_ca) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);

		*which = RT_TLS_CA;
		if (!names || load_ca(ctx, client_ca) != 1) {
			queue_err(why, sizeof(why), "no certificates in it");
			snprintf(err, errlen, "'%s': no usable CA certificates (%s)",
				 client_ca, why);
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
					       SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
				   NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int rt_tls_set_peer_name(SSL *ssl, const char *name)
{
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, name, ip) == 1 ||
		     inet_pton(AF_INET6, name, ip) == 1;
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);

	X509_VERIFY_PARAM_set_hostflags(param,
					X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip)
		return X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1 ? 0 : -1;
	if (SSL_set_tlsext_host_name(ssl, name) != 1)
		return -1;
	return SSL_set1_host(ssl, name) == 1 ? 0 : -1;
}

const char *rt_tls_why(SSL *ssl, int ret, char *buf, size_t len)
{
	int e = SSL_get_error(ssl, ret);
	long v = SSL_get_verify_result(ssl);
	int saved = errno;

	if (e == SSL_ERROR_SSL && v != X509_V_OK) {
		ERR_clear_error();
		snprintf(buf, len, "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
	} else if (e == SSL_ERROR_SSL) {
		queue_err(buf, len, "TLS error");
	} else if (e == SSL_ERROR_ZERO_RETURN ||
		   (e == SSL_ERROR_SYSCALL && !saved)) {
		ERR_clear_error();
		snprintf(buf, len, "closed by the peer");
	} else if (e == SSL_ERROR_SYSCALL) {
		ERR_clear_error();
		snprintf(buf, len, "%s", strerror(saved));
	} else {
		queue_err(buf, len, "TLS error");
	}
	return buf;
}

const char *rt_tls_describe(SSL *ssl, char *buf, size_t len)
{
	X509 *peer = SSL_get1_peer_certificate(ssl);
	int n = snprintf(buf, len, "%s %s", SSL_get_version(ssl),
			 SSL_get_cipher_name(ssl));

	if (peer && n >= 0 && (size_t)n < len) {
		char cn[128] = "";

		X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
					  NID_commonName, cn, sizeof(cn));
		if (cn[0])
			snprintf(buf + n, len - n, ", certificate CN=%s", cn);
	}
	X509_free(peer);
	return buf;
}
