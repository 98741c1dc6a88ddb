// System libsecp256k1 (Debian libsecp256k1-dev): K-256 ECDSA with RFC 6979 nonces and low-S output.
#ifndef PDS_CSECP256K1_SHIM_H
#define PDS_CSECP256K1_SHIM_H
#include <secp256k1.h>
#endif
