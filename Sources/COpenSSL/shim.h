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
/* SSL_OP_* are built with the SSL_OP_BIT() macro, which Swift does not import. */
static inline uint64_t pd_SSL_OP_server_defaults(void) {
    return SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE;
}
#endif
