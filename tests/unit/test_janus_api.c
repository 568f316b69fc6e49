/* Janus HTTP API answers as fc_janus reads them. The well-formed ones are
 * what Janus 1.1.2 (Debian's, configured by scripts/run-janus) sent to curl,
 * except the long poll's error event, which Janus sends over other
 * transports (over HTTP it answers a poll on an unknown session with a bare
 * 404); the malformed ones are ours. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/janus_api.h"

static int parse(const char *s, fc_janus_answer *a)
{
    char err[200];
    err[0] = '\0';
    int rc = fc_janus_answer_parse(s, strlen(s), a, err, sizeof err);
    if (rc != 0) assert_true(strncmp(err, "janus: ", 7) == 0);
    return rc;
}

static void session_and_handle(void **state)
{
    (void)state;
    fc_janus_answer a;
    assert_int_equal(
        parse("{\"janus\":\"success\",\"transaction\":\"fc-1\",\"data\":{\"id\":6100941451959861}}",
              &a),
        0);
    assert_int_equal(a.kind, FC_JANUS_ANSWER_SUCCESS);
    assert_true(a.id == 6100941451959861ull);
    assert_false(a.plugin);
    assert_int_equal(parse("{\"janus\":\"success\",\"session_id\":6100941451959861,"
                           "\"transaction\":\"fc-2\",\"data\":{\"id\":3611006630842556}}",
                           &a),
                     0);
    assert_true(a.id == 3611006630842556ull);
    assert_int_equal(parse("{\"janus\":\"ack\",\"session_id\":6100941451959861,\"transaction\":"
                           "\"fc-3\"}",
                           &a),
                     0);
    assert_int_equal(a.kind, FC_JANUS_ANSWER_ACK);
}

static void created_mountpoint(void **state)
{
    (void)state;
    fc_janus_answer a;
    assert_int_equal(
        parse("{\"janus\":\"success\",\"session_id\":6100941451959861,\"transaction\":\"fc-4\","
              "\"sender\":3611006630842556,\"plugindata\":{\"plugin\":\"janus.plugin.streaming\","
              "\"data\":{\"streaming\":\"created\",\"created\":\"mp-42\",\"permanent\":false,"
              "\"stream\":{\"id\":42,\"type\":\"live\",\"description\":\"mp-42\",\"is_private\":"
              "true,\"host\":\"127.0.0.1\",\"ports\":[{\"type\":\"video\",\"mid\":\"v\",\"port\":"
              "19610,\"rtcp_port\":19611},{\"type\":\"audio\",\"mid\":\"a\",\"port\":19612}]}}}}",
              &a),
        0);
    assert_true(a.plugin && a.created);
    assert_int_equal(a.plugin_code, 0);
    assert_int_equal(a.ports.id, 42);
    assert_string_equal(a.ports.host, "127.0.0.1");
    assert_int_equal(a.ports.video, 19610);
    assert_int_equal(a.ports.video_rtcp, 19611);
    assert_int_equal(a.ports.audio, 19612);
}

static void plugin_errors(void **state)
{
    (void)state;
    fc_janus_answer a;
    assert_int_equal(parse("{\"janus\":\"success\",\"session_id\":8270564273173803,"
                           "\"transaction\":\"c\",\"sender\":4635276894324198,\"plugindata\":"
                           "{\"plugin\":\"janus.plugin.streaming\",\"data\":{\"streaming\":"
                           "\"event\",\"error_code\":457,\"error\":\"Unauthorized (wrong "
                           "admin_key)\"}}}",
                           &a),
                     0);
    assert_true(a.plugin);
    assert_false(a.created);
    assert_int_equal(a.plugin_code, 457);
    assert_string_equal(a.plugin_reason, "Unauthorized (wrong admin_key)");
    assert_int_equal(parse("{\"janus\":\"success\",\"session_id\":8270564273173803,"
                           "\"transaction\":\"c\",\"sender\":4635276894324198,\"plugindata\":"
                           "{\"plugin\":\"janus.plugin.streaming\",\"data\":{\"streaming\":"
                           "\"event\",\"error_code\":456,\"error\":\"A stream with the provided "
                           "ID already exists\"}}}",
                           &a),
                     0);
    assert_int_equal(a.plugin_code, FC_STREAMING_CANT_CREATE);
    assert_int_equal(parse("{\"janus\":\"success\",\"session_id\":6100941451959861,"
                           "\"transaction\":\"fc-7\",\"sender\":3611006630842556,\"plugindata\":"
                           "{\"plugin\":\"janus.plugin.streaming\",\"data\":{\"streaming\":"
                           "\"event\",\"error_code\":455,\"error\":\"No such mountpoint/stream "
                           "42\"}}}",
                           &a),
                     0);
    assert_int_equal(a.plugin_code, FC_STREAMING_NO_SUCH_MOUNTPOINT);
    assert_int_equal(parse("{\"janus\":\"success\",\"session_id\":6100941451959861,"
                           "\"transaction\":\"fc-6\",\"sender\":3611006630842556,\"plugindata\":"
                           "{\"plugin\":\"janus.plugin.streaming\",\"data\":{\"streaming\":"
                           "\"destroyed\",\"destroyed\":42}}}",
                           &a),
                     0);
    assert_true(a.plugin);
    assert_int_equal(a.plugin_code, 0);
}

/* After a restart our session and handle are unknown. */
static void session_gone(void **state)
{
    (void)state;
    fc_janus_answer a;
    assert_int_equal(parse("{\"janus\":\"error\",\"session_id\":123,\"transaction\":\"c\","
                           "\"error\":{\"code\":458,\"reason\":\"No such session 123\"}}",
                           &a),
                     0);
    assert_int_equal(a.kind, FC_JANUS_ANSWER_ERROR);
    assert_true(a.session_gone);
    assert_int_equal(a.code, 458);
    assert_string_equal(a.reason, "No such session 123");
    assert_int_equal(parse("{\"janus\":\"error\",\"session_id\":6100941451959861,\"transaction\":"
                           "\"fc-8\",\"error\":{\"code\":459,\"reason\":\"No such handle 77 in "
                           "session 6100941451959861\"}}",
                           &a),
                     0);
    assert_true(a.session_gone);
    assert_int_equal(parse("{\"janus\":\"error\",\"transaction\":\"fc-10\",\"error\":{\"code\":457,"
                           "\"reason\":\"Unhandled request 'bogus' at this path\"}}",
                           &a),
                     0);
    assert_false(a.session_gone);
    assert_int_equal(a.code, 457);
}

static void long_poll(void **state)
{
    (void)state;
    fc_janus_answer a;
    assert_int_equal(parse("[{\"janus\":\"keepalive\"}]", &a), 0);
    assert_int_equal(a.kind, FC_JANUS_ANSWER_EVENTS);
    assert_false(a.session_gone);
    assert_int_equal(parse("{\"janus\":\"keepalive\"}", &a), 0);
    assert_int_equal(a.kind, FC_JANUS_ANSWER_EVENTS);
    assert_int_equal(parse("[{\"janus\":\"keepalive\"},{\"janus\":\"error\",\"error\":{\"code\":"
                           "458,\"reason\":\"No such session 5\"}}]",
                           &a),
                     0);
    assert_true(a.session_gone);
    assert_string_equal(a.reason, "No such session 5");
}

static void not_janus(void **state)
{
    (void)state;
    fc_janus_answer a;
    assert_int_equal(parse("", &a), -EBADMSG);
    assert_int_equal(parse("<html>404</html>", &a), -EBADMSG);
    assert_int_equal(parse("{\"ok\":true}", &a), -EBADMSG);
    assert_int_equal(parse("{\"janus\":\"success\",\"janus\":\"error\"}", &a), -EBADMSG);
    /* a created stream without an id, or with a port that is no port */
    assert_int_equal(parse("{\"janus\":\"success\",\"plugindata\":{\"data\":{\"streaming\":"
                           "\"created\",\"stream\":{\"ports\":[]}}}}",
                           &a),
                     -EBADMSG);
    assert_int_equal(parse("{\"janus\":\"success\",\"plugindata\":{\"data\":{\"streaming\":"
                           "\"created\",\"stream\":{\"id\":3,\"ports\":[{\"type\":\"video\","
                           "\"port\":70000,\"rtcp_port\":1}]}}}}",
                           &a),
                     -EBADMSG);
    assert_int_equal(parse("{\"janus\":\"success\",\"plugindata\":{\"data\":{\"streaming\":"
                           "\"created\",\"stream\":{\"id\":3,\"ports\":[{\"type\":\"video\","
                           "\"port\":\"x\"}]}}}}",
                           &a),
                     -EBADMSG);
    /* Truncations of a real answer are never half read. */
    const char *full =
        "{\"janus\":\"success\",\"session_id\":1,\"transaction\":\"c\",\"plugindata\":"
        "{\"plugin\":\"janus.plugin.streaming\",\"data\":{\"streaming\":\"created\","
        "\"stream\":{\"id\":42,\"host\":\"127.0.0.1\",\"ports\":[{\"type\":"
        "\"video\",\"port\":19610,\"rtcp_port\":19611}]}}}}";
    char err[200];
    for (size_t n = 0; n < strlen(full); n++)
        assert_int_equal(fc_janus_answer_parse(full, n, &a, err, sizeof err), -EBADMSG);
    assert_int_equal(fc_janus_answer_parse(full, strlen(full), &a, err, sizeof err), 0);
    assert_int_equal(a.ports.video_rtcp, 19611);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_and_handle), cmocka_unit_test(created_mountpoint),
        cmocka_unit_test(plugin_errors),      cmocka_unit_test(session_gone),
        cmocka_unit_test(long_poll),          cmocka_unit_test(not_janus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
