#ifndef PD_COPENSSL_SHIM_H
#define PD_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>

/* Function-like macros in OpenSSL headers, wrapped so Swift can call them. */
static inline long pd_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long pd_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
#endif
