// System OpenSSL 3.0 (Debian libssl-dev). Only the non-deprecated 3.0 API is used.
//
// Why the wrappers below exist:
// - Function-like macros are not imported into Swift, so they get `static inline` wrappers.
// - OSSL_PARAM builders keep the *key* pointer until the parameter array is built; Swift's
//   String-to-char* bridging yields a temporary pointer. The `pds_param_*` functions return
//   the OpenSSL string constants from static storage, which live forever.
#ifndef PDS_COPENSSL_SHIM_H
#define PDS_COPENSSL_SHIM_H

#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// OSSL_PARAM key names (static storage; see the note above).
static inline const char *pds_param_group_name(void) { return OSSL_PKEY_PARAM_GROUP_NAME; }
static inline const char *pds_param_priv_key(void) { return OSSL_PKEY_PARAM_PRIV_KEY; }
static inline const char *pds_param_pub_key(void) { return OSSL_PKEY_PARAM_PUB_KEY; }
static inline const char *pds_param_ec_order(void) { return OSSL_PKEY_PARAM_EC_ORDER; }
static inline const char *pds_param_point_conversion_format(void) { return OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT; }
static inline const char *pds_param_digest(void) { return OSSL_ALG_PARAM_DIGEST; }
static inline const char *pds_param_kdf_key(void) { return OSSL_KDF_PARAM_KEY; }
static inline const char *pds_param_kdf_salt(void) { return OSSL_KDF_PARAM_SALT; }
static inline const char *pds_param_kdf_info(void) { return OSSL_KDF_PARAM_INFO; }
static inline const char *pds_param_kdf_password(void) { return OSSL_KDF_PARAM_PASSWORD; }
static inline const char *pds_param_scrypt_n(void) { return OSSL_KDF_PARAM_SCRYPT_N; }
static inline const char *pds_param_scrypt_r(void) { return OSSL_KDF_PARAM_SCRYPT_R; }
static inline const char *pds_param_scrypt_p(void) { return OSSL_KDF_PARAM_SCRYPT_P; }
static inline const char *pds_param_scrypt_maxmem(void) { return OSSL_KDF_PARAM_SCRYPT_MAXMEM; }

// Function-like macros.
static inline int pds_EVP_PKEY_keypair(void) { return EVP_PKEY_KEYPAIR; }
static inline int pds_EVP_PKEY_public_key(void) { return EVP_PKEY_PUBLIC_KEY; }
static inline long pds_BIO_pending(BIO *b) { return BIO_pending(b); }
static inline long pds_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long pds_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_max_proto_version(ctx, version);
}
static inline long pds_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long pds_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *)) {
    return SSL_CTX_set_tlsext_servername_callback(ctx, cb);
}
static inline long pds_SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg) {
    return SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}

// TLS (OpenSSLNIO). SSL_OP_* are `SSL_OP_BIT(n)` casts, which Swift cannot import.
static inline uint64_t pds_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t pds_SSL_OP_IGNORE_UNEXPECTED_EOF(void) { return SSL_OP_IGNORE_UNEXPECTED_EOF; }
static inline uint64_t pds_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline long pds_SSL_set_mode(SSL *ssl, long mode) { return SSL_set_mode(ssl, mode); }
static inline long pds_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return SSL_CTX_set1_groups_list(ctx, list);
}
static inline long pds_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *cert) { return SSL_CTX_add1_chain_cert(ctx, cert); }
static inline long pds_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}

// Typed stacks are macros over OPENSSL_sk_* with casts.
static inline GENERAL_NAMES *pds_sk_GENERAL_NAME_new_null(void) { return sk_GENERAL_NAME_new_null(); }
static inline int pds_sk_GENERAL_NAME_num(const GENERAL_NAMES *names) { return sk_GENERAL_NAME_num(names); }
static inline GENERAL_NAME *pds_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}
static inline int pds_sk_GENERAL_NAME_push(GENERAL_NAMES *names, GENERAL_NAME *name) {
    return sk_GENERAL_NAME_push(names, name);
}
static inline STACK_OF(X509_EXTENSION) *pds_sk_X509_EXTENSION_new_null(void) { return sk_X509_EXTENSION_new_null(); }
static inline int pds_sk_X509_EXTENSION_push(STACK_OF(X509_EXTENSION) *stack, X509_EXTENSION *extension) {
    return sk_X509_EXTENSION_push(stack, extension);
}
static inline void pds_sk_X509_EXTENSION_pop_free(STACK_OF(X509_EXTENSION) *stack) {
    sk_X509_EXTENSION_pop_free(stack, X509_EXTENSION_free);
}

#endif
