/*
 * Reference figure for pds-bench: libsecp256k1 driven straight from C, doing what
 * K256PrivateKey.sign / K256PublicKey.verify do per call — SHA-256 of the message through
 * OpenSSL's EVP_Digest with a prefetched MD, ECDSA sign with the default RFC 6979 nonce, and
 * compact serialisation (verify: parse compact, hash, verify). One randomised context is shared.
 *
 * Usage: secp256k1_bench <message-hex> <seconds-per-measurement>
 * Prints "sign_per_sec <wall> <cpu>" and "verify_per_sec <wall> <cpu>": operations per second of
 * monotonic wall-clock time and per second of this thread's CPU time.
 */
#include <secp256k1.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Written after each operation so the compiler cannot drop the work. */
static volatile unsigned char sink;

static secp256k1_context *ctx;
static EVP_MD *sha256;
static unsigned char seckey[32];
static secp256k1_pubkey pubkey;
static unsigned char *message;
static size_t message_len;
static unsigned char signature64[64];

static void do_sign(void) {
    unsigned char digest[32];
    secp256k1_ecdsa_signature sig;
    if (EVP_Digest(message, message_len, digest, NULL, sha256, NULL) != 1) abort();
    if (secp256k1_ecdsa_sign(ctx, &sig, digest, seckey, NULL, NULL) != 1) abort();
    secp256k1_ecdsa_signature_serialize_compact(ctx, signature64, &sig);
    sink ^= signature64[0];
}

static void do_verify(void) {
    unsigned char digest[32];
    secp256k1_ecdsa_signature sig;
    if (secp256k1_ecdsa_signature_parse_compact(ctx, &sig, signature64) != 1) abort();
    if (EVP_Digest(message, message_len, digest, NULL, sha256, NULL) != 1) abort();
    if (secp256k1_ecdsa_verify(ctx, &sig, digest, &pubkey) != 1) abort();
    sink ^= digest[0];
}

/* Warms up, then runs batches until `seconds` of wall time have passed; prints the rates. */
static void measure(const char *name, void (*op)(void), double seconds) {
    for (int i = 0; i < 200; i++) op();
    long count = 0;
    double start = clock_seconds(CLOCK_MONOTONIC), cpu_start = clock_seconds(CLOCK_THREAD_CPUTIME_ID), elapsed;
    do {
        for (int i = 0; i < 100; i++) op();
        count += 100;
        elapsed = clock_seconds(CLOCK_MONOTONIC) - start;
    } while (elapsed < seconds);
    double cpu = clock_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
    printf("%s %.1f %.1f\n", name, (double)count / elapsed, (double)count / cpu);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <message-hex> <seconds>\n", argv[0]);
        return 2;
    }
    size_t hex_len = strlen(argv[1]);
    if (hex_len % 2 != 0) return 2;
    message_len = hex_len / 2;
    message = malloc(message_len ? message_len : 1);
    for (size_t i = 0; i < message_len; i++) {
        int hi = hex_value(argv[1][2 * i]), lo = hex_value(argv[1][2 * i + 1]);
        if (hi < 0 || lo < 0) return 2;
        message[i] = (unsigned char)(hi << 4 | lo);
    }
    double seconds = atof(argv[2]);

    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    unsigned char seed[32];
    if (!sha256 || !ctx || RAND_bytes(seed, 32) != 1 || !secp256k1_context_randomize(ctx, seed)) return 1;
    do {
        if (RAND_bytes(seckey, 32) != 1) return 1;
    } while (!secp256k1_ec_seckey_verify(ctx, seckey));
    if (!secp256k1_ec_pubkey_create(ctx, &pubkey, seckey)) return 1;

    measure("sign_per_sec", do_sign, seconds);
    measure("verify_per_sec", do_verify, seconds);
    return 0;
}
