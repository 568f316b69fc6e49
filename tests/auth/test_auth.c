/* API keys, Authorization headers, viewer tokens and the per-peer failure
 * limiter: pure functions and small state, no sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/auth/apikey.h"
#include "transport/auth/hostcheck.h"
#include "transport/auth/peerlimit.h"
#include "transport/auth/viewtoken.h"

#define KEY "0123456789abcdef0123456789abcdef"
/* The token for cam0 expiring at 2000000000 under KEY, computed with the
 * openssl command line (docs/api.md shows how): a second implementation. */
#define VECTOR "v1~cam0~2000000000~A677D0147764EAA21C1A8179CA00DC1FF227EB32F8990D359DD25EB5DC7C5508"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/fc-auth-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes `text` to a file in the test directory; returns its path. */
static const char *key_file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static fc_api_key *load_ok(const char *file, const char *env)
{
    fc_api_key *k;
    char err[512];
    if (fc_api_key_load(file, env, &k, err, sizeof err) != 0) fail_msg("%s", err);
    return k;
}

static int check(const fc_api_key *k, const char *s)
{
    return fc_api_key_check(k, s, strlen(s));
}

static void keys_load_and_compare(void **state)
{
    (void)state;
    fc_api_key *k = load_ok(key_file("key", KEY "\n"), NULL);
    assert_int_equal(check(k, KEY), 0);
    assert_int_equal(check(k, KEY "0"), -EACCES);
    assert_int_equal(check(k, "0123456789abcdef0123456789abcdeF"), -EACCES);
    assert_int_equal(check(k, "0123456789abcdef"), -EACCES);
    assert_int_equal(check(k, ""), -EACCES);
    fc_api_key_free(k);

    k = load_ok(key_file("crlf", KEY "\r\n"), NULL);
    assert_int_equal(check(k, KEY), 0);
    fc_api_key_free(k);

    k = load_ok(key_file("bare", "-._~" KEY), NULL);
    assert_int_equal(check(k, "-._~" KEY), 0);
    fc_api_key_free(k);

    /* The environment, and the flag winning over it. */
    k = load_ok(NULL, "ZYXWVUTSRQPONMLKJIHGFEDCBA");
    assert_int_equal(check(k, "ZYXWVUTSRQPONMLKJIHGFEDCBA"), 0);
    fc_api_key_free(k);
    k = load_ok(key_file("key", KEY "\n"), "ZYXWVUTSRQPONMLKJIHGFEDCBA");
    assert_int_equal(check(k, KEY), 0);
    assert_int_equal(check(k, "ZYXWVUTSRQPONMLKJIHGFEDCBA"), -EACCES);
    fc_api_key_free(k);
}

static void expect_key_error(const char *file, const char *env, int code, const char *needle)
{
    fc_api_key *k = (fc_api_key *)1;
    char err[512] = "";
    int rc = fc_api_key_load(file, env, &k, err, sizeof err);
    assert_null(k);
    if (rc != code || !strstr(err, needle))
        fail_msg("load(%s, %s) = %d '%s'; expected %d saying '%s'", file ? file : "NULL",
                 env ? env : "NULL", rc, err, code, needle);
}

static void bad_keys_are_refused_naming_the_cause(void **state)
{
    (void)state;
    expect_key_error(NULL, NULL, -ENOKEY, "give --api-key-file PATH or set FRAMECAST_API_KEY");
    expect_key_error(NULL, "", -ENOKEY, "openssl rand -hex 32");
    char missing[128];
    snprintf(missing, sizeof missing, "%s/absent", dir);
    expect_key_error(missing, NULL, -ENOENT, "No such file or directory");
    expect_key_error(missing, NULL, -ENOENT, missing);
    expect_key_error(dir, NULL, -EISDIR, dir);
    const char *p = key_file("empty", "");
    expect_key_error(p, NULL, -EINVAL, "the API key is empty");
    p = key_file("newline", "\n");
    expect_key_error(p, NULL, -EINVAL, "the API key is empty");
    p = key_file("short", "0123456789\n");
    expect_key_error(p, NULL, -EINVAL, "has 10 characters; it needs 16 to 256");
    char named[160];
    snprintf(named, sizeof named, "API key file %s: the API key has 10", p);
    expect_key_error(p, NULL, -EINVAL, named);
    p = key_file("space", "0123 456789abcdef0123\n");
    expect_key_error(p, NULL, -EINVAL, "(character 5 is not)");
    p = key_file("lines", KEY "\n" KEY "\n");
    expect_key_error(p, NULL, -EINVAL, "one line of A-Z a-z 0-9 - . _ ~");
    p = key_file("plus", "abc+def/ghi=jklmnop\n");
    expect_key_error(p, NULL, -EINVAL, "(character 4 is not)");
    char big[400];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    p = key_file("big", big);
    expect_key_error(p, NULL, -EINVAL, "longer than a key of 256 characters");
    big[257] = '\0';
    expect_key_error(NULL, big, -EINVAL, "FRAMECAST_API_KEY: the API key has 257 characters");
    expect_key_error(NULL, "tab\there0123456789", -EINVAL, "FRAMECAST_API_KEY");
}

static void bearer_headers(void **state)
{
    (void)state;
    static const struct {
        const char *header, *cred;
    } good[] = {
        {"Bearer " KEY, KEY},
        {"bearer " KEY, KEY},
        {"BEARER   " KEY "  ", KEY},
        {" Bearer\t" KEY, KEY},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        const char *cred;
        size_t len;
        assert_int_equal(fc_api_key_bearer(good[i].header, &cred, &len), 0);
        assert_int_equal(len, strlen(good[i].cred));
        assert_memory_equal(cred, good[i].cred, len);
    }
    static const char *const bad[] = {
        "",           "Bearer",         "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b",
        "Bearer" KEY, "Bearerish " KEY, KEY,       "Bearer \x01" KEY,
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *cred;
        size_t len;
        if (fc_api_key_bearer(bad[i], &cred, &len) != -EINVAL)
            fail_msg("'%s' was taken as a bearer header", bad[i]);
    }
}

static fc_view_tokens *tokens_for(const char *key_text)
{
    fc_api_key *k = load_ok(NULL, key_text);
    fc_view_tokens *t;
    assert_int_equal(fc_view_tokens_new(k, &t), 0);
    fc_api_key_free(k);
    return t;
}

static void tokens_match_the_test_vector(void **state)
{
    (void)state;
    fc_view_tokens *t = tokens_for(KEY);
    char tok[FC_VIEW_TOKEN_MAX];
    assert_int_equal(fc_view_token_make(t, "cam0", 2000000000, tok, sizeof tok), 0);
    assert_string_equal(tok, VECTOR);
    assert_int_equal(fc_view_token_check(t, VECTOR, "cam0", 1999999999), 0);
    assert_int_equal(fc_view_token_make(t, "a/b", 2000000000, tok, sizeof tok), -EINVAL);
    assert_int_equal(fc_view_token_make(t, "cam0", 0, tok, sizeof tok), -EINVAL);
    assert_int_equal(fc_view_token_make(t, "cam0", 2000000000, tok, 100), -ENOSPC);
    fc_view_tokens_free(t);
}

/* Every refusal is the same -EACCES; only the counters tell them apart. */
static void tokens_refused_alike_and_counted_apart(void **state)
{
    (void)state;
    fc_view_tokens *t = tokens_for(KEY), *other = tokens_for("another-key-0123456789");
    char tok[FC_VIEW_TOKEN_MAX], foreign_key[FC_VIEW_TOKEN_MAX];
    const char *id63 = "a23456789012345678901234567890123456789012345678901234567890123";
    assert_int_equal(fc_view_token_make(t, id63, 1000, tok, sizeof tok), 0);
    assert_int_equal(fc_view_token_check(t, tok, id63, 999), 0);
    assert_int_equal(fc_view_token_make(other, "cam0", 2000000000, foreign_key, sizeof foreign_key),
                     0);

    assert_int_equal(fc_view_token_check(t, VECTOR, "cam0", 2000000000), -EACCES); /* expired */
    assert_int_equal(fc_view_token_check(t, VECTOR, "cam0", 2100000000), -EACCES); /* expired */
    assert_int_equal(fc_view_token_check(t, VECTOR, "cam1", 1), -EACCES);          /* foreign */
    assert_int_equal(fc_view_token_check(t, foreign_key, "cam0", 1), -EACCES);     /* other key */
    /* Altered: another stream or expiry under the old signature, the
     * signature in lower case. */
    const char *altered[] = {
        "v1~cam1~2000000000~A677D0147764EAA21C1A8179CA00DC1FF227EB32F8990D359DD25EB5DC7C5508",
        "v1~cam0~2000000001~A677D0147764EAA21C1A8179CA00DC1FF227EB32F8990D359DD25EB5DC7C5508",
        "v1~cam0~2000000000~a677d0147764eaa21c1a8179ca00dc1ff227eb32f8990d359dd25eb5dc7c5508",
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fc_view_token_check(t, altered[i], "cam1", 1), -EACCES);
    const char *sig = "A677D0147764EAA21C1A8179CA00DC1FF227EB32F8990D359DD25EB5DC7C5508";
    char malformed[12][FC_VIEW_TOKEN_MAX + 40];
    int nm = 0;
    snprintf(malformed[nm++], sizeof *malformed, "%s", "");
    snprintf(malformed[nm++], sizeof *malformed, "%s", "v1");
    snprintf(malformed[nm++], sizeof *malformed, "v2~cam0~2000000000~%s", sig);
    snprintf(malformed[nm++], sizeof *malformed, "v1~cam0~~%s", sig);
    snprintf(malformed[nm++], sizeof *malformed, "v1~cam0~02000000000~%s", sig);
    snprintf(malformed[nm++], sizeof *malformed, "v1~cam0~-2000000000~%s", sig);
    snprintf(malformed[nm++], sizeof *malformed, "v1~~2000000000~%s", sig);
    snprintf(malformed[nm++], sizeof *malformed, "v1~a/b~2000000000~%s", sig);
    snprintf(malformed[nm++], sizeof *malformed, "v1~cam0~2000000000~%.63s", sig);
    snprintf(malformed[nm++], sizeof *malformed, "v1~cam0~2000000000~%s~", sig);
    snprintf(malformed[nm++], sizeof *malformed, "v1~%s0~2000000000~%s", id63, sig);
    memset(malformed[nm], 'v', FC_VIEW_TOKEN_MAX + 20);
    malformed[nm++][FC_VIEW_TOKEN_MAX + 20] = '\0';
    for (int i = 0; i < nm; i++)
        if (fc_view_token_check(t, malformed[i], "cam0", 1) != -EACCES)
            fail_msg("'%s' was accepted", malformed[i]);

    fc_view_token_counts c;
    fc_view_tokens_counts(t, &c);
    assert_int_equal(c.accepted, 1);
    assert_int_equal(c.expired, 2);
    assert_int_equal(c.foreign_stream, 1);
    assert_int_equal(c.bad_signature, 1 + 3);
    assert_int_equal(c.malformed, nm);
    fc_view_tokens_free(t);
    fc_view_tokens_free(other);
}

static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
    return s;
}

static struct sockaddr_in6 v6(const char *a)
{
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
    return s;
}

#define SA(x) ((const struct sockaddr *)&(x))
#define SEC 1000000000ull

static void peers_are_limited_after_a_burst(void **state)
{
    (void)state;
    fc_peer_limit *l;
    assert_int_equal(fc_peer_limit_new(16, 3, 1.0, &l), 0);
    struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.2");
    uint64_t t = 100 * SEC;
    for (int i = 0; i < 3; i++) {
        assert_false(fc_peer_limit_blocked(l, SA(a), t));
        fc_peer_limit_failed(l, SA(a), t);
    }
    assert_true(fc_peer_limit_blocked(l, SA(a), t));
    assert_false(fc_peer_limit_blocked(l, SA(b), t)); /* others are not punished */
    /* It drains at one failure a second: half a second on, still no room;
     * a second on, one more try; that failing too, refused for another
     * second. */
    assert_true(fc_peer_limit_blocked(l, SA(a), t + SEC / 2));
    assert_false(fc_peer_limit_blocked(l, SA(a), t + SEC));
    fc_peer_limit_failed(l, SA(a), t + SEC);
    assert_true(fc_peer_limit_blocked(l, SA(a), t + SEC));
    assert_true(fc_peer_limit_blocked(l, SA(a), t + SEC * 7 / 4));
    assert_false(fc_peer_limit_blocked(l, SA(a), t + 2 * SEC));
    assert_false(fc_peer_limit_blocked(l, SA(a), t + 5 * SEC));

    /* An IPv6 peer is its /64; an IPv4-mapped address is the IPv4 peer. */
    struct sockaddr_in6 h1 = v6("2001:db8:1:2::1"), h2 = v6("2001:db8:1:2:ffff::9"),
                        n2 = v6("2001:db8:1:3::1"), mapped = v6("::ffff:192.0.2.2");
    for (int i = 0; i < 3; i++)
        fc_peer_limit_failed(l, SA(h1), t);
    assert_true(fc_peer_limit_blocked(l, SA(h2), t));
    assert_false(fc_peer_limit_blocked(l, SA(n2), t));
    for (int i = 0; i < 3; i++)
        fc_peer_limit_failed(l, SA(b), t);
    assert_true(fc_peer_limit_blocked(l, SA(mapped), t));

    fc_peer_limit_stats s;
    fc_peer_limit_stats_get(l, &s);
    assert_int_equal(s.failures, 3 + 1 + 3 + 3);
    assert_int_equal(s.refused, 6);
    assert_int_equal(s.peers, 3);
    assert_int_equal(s.evicted, 0);
    fc_peer_limit_free(l);

    /* The regression: failures a few milliseconds apart, as a real client
     * makes them, fill the bucket as well as simultaneous ones do (the
     * bucket drains by a hair in between and once let the next try in). */
    assert_int_equal(fc_peer_limit_new(16, 10, FC_PEER_LIMIT_PER_SEC, &l), 0);
    for (int i = 0; i < 10; i++) {
        assert_false(fc_peer_limit_blocked(l, SA(a), t + (uint64_t)i * SEC / 1000));
        fc_peer_limit_failed(l, SA(a), t + (uint64_t)i * SEC / 1000);
    }
    assert_true(fc_peer_limit_blocked(l, SA(a), t + 10 * SEC / 1000));
    assert_true(fc_peer_limit_blocked(l, SA(a), t + 4 * SEC));
    assert_false(fc_peer_limit_blocked(l, SA(a), t + 5 * SEC + 10 * SEC / 1000));
    fc_peer_limit_free(l);

    assert_int_equal(fc_peer_limit_new(0, 3, 1, &l), -EINVAL);
    assert_int_equal(fc_peer_limit_new(4, 0.5, 1, &l), -EINVAL);
    assert_int_equal(fc_peer_limit_new(4, 3, 0, &l), -EINVAL);
}

/* A full table forgets the peer whose last failure is oldest; one that has
 * drained is reused without counting as an eviction. */
static void a_full_table_evicts_the_oldest(void **state)
{
    (void)state;
    fc_peer_limit *l;
    assert_int_equal(fc_peer_limit_new(4, 2, 0.1, &l), 0);
    struct sockaddr_in p[6];
    char addr[32];
    for (int i = 0; i < 6; i++) {
        snprintf(addr, sizeof addr, "198.51.100.%d", i + 1);
        p[i] = v4(addr);
    }
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++)
            fc_peer_limit_failed(l, SA(p[i]), (uint64_t)(10 + i) * SEC);
    for (int i = 0; i < 4; i++)
        assert_true(fc_peer_limit_blocked(l, SA(p[i]), 14 * SEC));
    fc_peer_limit_failed(l, SA(p[4]), 14 * SEC);
    assert_false(fc_peer_limit_blocked(l, SA(p[0]), 14 * SEC)); /* forgotten */
    for (int i = 1; i < 4; i++)
        assert_true(fc_peer_limit_blocked(l, SA(p[i]), 14 * SEC));
    fc_peer_limit_stats s;
    fc_peer_limit_stats_get(l, &s);
    assert_int_equal(s.evicted, 1);
    assert_int_equal(s.peers, 4);
    /* 30 s on, every bucket has drained: a new peer takes a slot freely. */
    fc_peer_limit_failed(l, SA(p[5]), 44 * SEC);
    fc_peer_limit_stats_get(l, &s);
    assert_int_equal(s.evicted, 1);
    assert_int_equal(s.peers, 4);
    fc_peer_limit_free(l);
}

/* Which --host values keep the server on this machine. The wildcards are
 * everything but that; names are judged by what they resolve to. */
static void loopback_hosts(void **state)
{
    (void)state;
    static const char *const local[] = {"127.0.0.1", "127.0.0.2",        "127.255.255.254", "::1",
                                        "[::1]",     "::ffff:127.0.0.1", "localhost"};
    static const char *const others[] = {
        "0.0.0.0", "::", "[::]", "192.0.2.1", "10.1.2.3", "::ffff:10.0.0.1", "2001:db8::1"};
    char err[200];
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        if (fc_host_loopback_only(local[i], err, sizeof err) != 1)
            fail_msg("%s should be loopback", local[i]);
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        err[0] = '\0';
        if (fc_host_loopback_only(others[i], err, sizeof err) != 0)
            fail_msg("'%s' should not be loopback", others[i]);
        assert_non_null(strstr(err, "is not a loopback address"));
    }
    assert_int_equal(fc_host_loopback_only("0.0.0.0", err, sizeof err), 0);
    assert_string_equal(err, "--host 0.0.0.0 is not a loopback address");
    assert_int_equal(fc_host_loopback_only("[::]", err, sizeof err), 0);
    assert_string_equal(err, "--host [::] is not a loopback address");
    assert_int_equal(fc_host_loopback_only("no-such-host.invalid", err, sizeof err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_load_and_compare),
        cmocka_unit_test(bad_keys_are_refused_naming_the_cause),
        cmocka_unit_test(bearer_headers),
        cmocka_unit_test(tokens_match_the_test_vector),
        cmocka_unit_test(tokens_refused_alike_and_counted_apart),
        cmocka_unit_test(peers_are_limited_after_a_burst),
        cmocka_unit_test(a_full_table_evicts_the_oldest),
        cmocka_unit_test(loopback_hosts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
