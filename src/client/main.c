/* main.c: qvd-client's command line: options, credentials, then the session (proto.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "err.h"
#include "log.h"

#define MAX_SETTINGS 32

static void
usage(FILE *f)
{
    fputs("usage: qvd-client [options]\n"
          "  --host H[,H2...]    L7R servers, tried in turn: name, IPv4 or [IPv6], each with\n"
          "                      an optional :PORT (QVDHOST, client.host.name)\n"
          "  --port P            their TLS port, default 8443 (QVDPORT, client.host.port)\n"
          "  --reconnect-tries N reconnect a broken session N times, default 5; 0: never\n"
          "                      (client.reconnect.tries)\n"
          "  --user LOGIN        user or user@tenant (QVDLOGIN, client.user.name)\n"
          "  --password-file F   read the password from F (else QVDPASSWORD, else a prompt)\n"
          "  --token T           log in with a token from /qvd/create_auth_token (QVDBEARERTOKEN)\n"
          "  --raw-token T       log in with a raw token (sent base64-encoded)\n"
          "  --list-vms [--json] list your virtual machines and exit\n"
          "  --vm-id N           the virtual machine to connect to (needed if you have several)\n"
          "  --list-apps [--json] list your applications (application VMs) and exit\n"
          "  --app NAME|ID       open the application of this name or id; the session ends\n"
          "                      when the application exits\n"
          "  --restart           stop the virtual machine first, then connect\n"
          "  --link L            modem, isdn, adsl, wan, lan or local (client.link)\n"
          "  --geometry WxH      session size (client.geometry)\n"
          "  --fullscreen        full screen session (client.fullscreen)\n"
          "  --keyboard M/L      keyboard model/layout, like pc105/es; default: this X server's\n"
          "                      (client.keyboard)\n"
          "  --audio, --no-audio the session's sound plays here, or not (client.audio.enable)\n"
          "  --microphone        with sound, this computer's default source is the session's\n"
          "                      microphone (client.audio.microphone.enable)\n"
          "  --tunnel VMPORT:PORT  connections to 127.0.0.1:VMPORT in the virtual machine\n"
          "                      reach 127.0.0.1:PORT here (repeatable)\n"
          "  --vm-folder DIR:MOUNT  the virtual machine's folder DIR at MOUNT here (sshfs;\n"
          "                      repeatable)\n"
          "  --printing, --no-printing   give the VM this computer's printers, or not\n"
          "                      (client.printing.enable)\n"
          "  --share DIR         this folder in the virtual machine at ~/Redirected/<its name>\n"
          "                      (client.share.folders; repeatable)\n"
          "  --accept-cert once|always   use a certificate that is not trusted\n"
          "  --fingerprint HEX   use the certificate with this SHA-256 fingerprint\n"
          "  --config FILE       extra configuration file (over ~/.qvd/client.conf)\n"
          "  -v, --verbose       tell more\n"
          "  -h, --help          this help\n"
          "      --version       the version\n",
          f);
}

enum {
    OPT_HOST = 256,
    OPT_PORT,
    OPT_USER,
    OPT_PWFILE,
    OPT_TOKEN,
    OPT_RAWTOKEN,
    OPT_LIST,
    OPT_JSON,
    OPT_VM,
    OPT_RESTART,
    OPT_LINK,
    OPT_GEOM,
    OPT_FULL,
    OPT_KBD,
    OPT_ACCEPT,
    OPT_FP,
    OPT_CONFIG,
    OPT_TRIES,
    OPT_AUDIO,
    OPT_NO_AUDIO,
    OPT_MIC,
    OPT_TUNNEL,
    OPT_VMFOLDER,
    OPT_SHARE,
    OPT_VERSION,
    OPT_PRINTING,
    OPT_NO_PRINTING,
    OPT_LIST_APPS,
    OPT_APP,
};

static const struct option long_opts[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"user", required_argument, NULL, OPT_USER},
    {"username", required_argument, NULL, OPT_USER},
    {"password-file", required_argument, NULL, OPT_PWFILE},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"raw-token", required_argument, NULL, OPT_RAWTOKEN},
    {"list-vms", no_argument, NULL, OPT_LIST},
    {"json", no_argument, NULL, OPT_JSON},
    {"vm-id", required_argument, NULL, OPT_VM},
    {"restart", no_argument, NULL, OPT_RESTART},
    {"link", required_argument, NULL, OPT_LINK},
    {"geometry", required_argument, NULL, OPT_GEOM},
    {"fullscreen", no_argument, NULL, OPT_FULL},
    {"keyboard", required_argument, NULL, OPT_KBD},
    {"accept-cert", required_argument, NULL, OPT_ACCEPT},
    {"fingerprint", required_argument, NULL, OPT_FP},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"reconnect-tries", required_argument, NULL, OPT_TRIES},
    {"audio", no_argument, NULL, OPT_AUDIO},
    {"no-audio", no_argument, NULL, OPT_NO_AUDIO},
    {"microphone", no_argument, NULL, OPT_MIC},
    {"tunnel", required_argument, NULL, OPT_TUNNEL},
    {"vm-folder", required_argument, NULL, OPT_VMFOLDER},
    {"printing", no_argument, NULL, OPT_PRINTING},
    {"no-printing", no_argument, NULL, OPT_NO_PRINTING},
    {"share", required_argument, NULL, OPT_SHARE},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"list-apps", no_argument, NULL, OPT_LIST_APPS},
    {"app", required_argument, NULL, OPT_APP},
    {NULL, 0, NULL, 0},
};

static const char *
env_get(const char *name)
{
    return getenv(name);
}

/* The password: --password-file, else QVDPASSWORD, else asked on the terminal. */
static int
get_password(struct client_opts *o, const char *file)
{
    if (file != NULL) {
        o->password = client_read_password_file(file);
        return o->password ? 0 : client_fail(CLIENT_EXIT_USAGE, "%s", qvd_strerror());
    }
    const char *env = getenv("QVDPASSWORD");
    if (env != NULL) {
        o->password = qvd_xstrdup(env);
        return 0;
    }
    char buf[1024];
    char *prompt = qvd_xasprintf("Password for %s at %s: ", o->user, o->host);
    int rc = client_tty_prompt(prompt, false, buf, sizeof(buf));
    free(prompt);
    if (rc < 0)
        return client_fail(CLIENT_EXIT_USAGE, "No password: use --password-file F, set "
                                              "QVDPASSWORD, or run on a terminal to be asked.");
    o->password = qvd_xstrdup(buf);
    qvd_wipe(buf, sizeof(buf));
    return 0;
}

int
main(int argc, char **argv)
{
    struct client_opts o = {0};
    struct client_setting set[MAX_SETTINGS];
    size_t nset = 0;
    const char *config_file = NULL, *pwfile = NULL, *token = NULL, *raw_token = NULL;
    const char *vm_id = NULL, *accept = NULL, *fp = NULL;
    struct qvd_config *cfg = NULL;
    int code = CLIENT_EXIT_USAGE, c;

    /* nxproxy runs NX_SLAVE_CMD without arguments: the slave mode (slave.c) */
    if (argc == 1 && getenv("QVD_CLIENT_SLAVE") != NULL)
        return client_slave_main();

    while ((c = getopt_long(argc, argv, "vh", long_opts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case OPT_HOST:
            key = "client.host.name";
            break;
        case OPT_PORT:
            key = "client.host.port";
            break;
        case OPT_USER:
            key = "client.user.name";
            break;
        case OPT_LINK:
            key = "client.link";
            break;
        case OPT_GEOM:
            key = "client.geometry";
            break;
        case OPT_KBD:
            key = "client.keyboard";
            break;
        case OPT_TRIES:
            key = "client.reconnect.tries";
            break;
        case OPT_FULL:
            set[nset].key = "client.fullscreen";
            set[nset++].value = "1";
            break;
        case OPT_AUDIO:
        case OPT_NO_AUDIO:
            set[nset].key = "client.audio.enable";
            set[nset++].value = c == OPT_AUDIO ? "1" : "0";
            break;
        case OPT_MIC: /* the microphone comes with the sound */
            set[nset].key = "client.audio.enable";
            set[nset++].value = "1";
            set[nset].key = "client.audio.microphone.enable";
            set[nset++].value = "1";
            break;
        case OPT_TUNNEL:
            if (client_slave_add_tunnel(&o, optarg) < 0)
                return client_fail(CLIENT_EXIT_USAGE, "%s.", qvd_strerror());
            break;
        case OPT_VMFOLDER:
            if (client_slave_add_folder(&o, optarg) < 0)
                return client_fail(CLIENT_EXIT_USAGE, "%s.", qvd_strerror());
            break;
        case OPT_PRINTING:
        case OPT_NO_PRINTING:
            set[nset].key = "client.printing.enable";
            set[nset++].value = c == OPT_PRINTING ? "1" : "0";
            break;
        case OPT_SHARE:
            if (client_slave_add_share(&o, optarg) < 0)
                return client_fail(CLIENT_EXIT_USAGE, "%s.", qvd_strerror());
            break;
        case OPT_PWFILE:
            pwfile = optarg;
            break;
        case OPT_TOKEN:
            token = optarg;
            break;
        case OPT_RAWTOKEN:
            raw_token = optarg;
            break;
        case OPT_LIST:
            o.list_vms = true;
            break;
        case OPT_JSON:
            o.json = true;
            break;
        case OPT_VM:
            vm_id = optarg;
            break;
        case OPT_LIST_APPS:
            o.list_apps = true;
            break;
        case OPT_APP:
            free(o.app);
            o.app = qvd_xstrdup(optarg);
            break;
        case OPT_RESTART:
            o.restart = true;
            break;
        case OPT_ACCEPT:
            accept = optarg;
            break;
        case OPT_FP:
            fp = optarg;
            break;
        case OPT_CONFIG:
            config_file = optarg;
            break;
        case 'v':
            o.verbose++;
            break;
        case 'h':
            usage(stdout);
            return CLIENT_EXIT_OK;
        case OPT_VERSION:
            printf("qvd-client %s\n", QVD_VERSION);
            return CLIENT_EXIT_OK;
        default:
            usage(stderr);
            return CLIENT_EXIT_USAGE;
        }
        if (key != NULL) {
            set[nset].key = key;
            set[nset++].value = optarg;
        }
        if (nset == MAX_SETTINGS)
            return client_fail(CLIENT_EXIT_USAGE, "Too many options.");
    }
    if (optind < argc)
        return client_fail(CLIENT_EXIT_USAGE,
                           "Unexpected argument \"%s\": see qvd-client "
                           "--help.",
                           argv[optind]);
    qvd_log_init("qvd-client", o.verbose ? QVD_LOG_DEBUG : QVD_LOG_WARN, NULL);
    client_signals_init();

    o.qvd_dir = client_qvd_dir();
    const char *user_conf = getenv("QVDCLIENTCONFIG");
    char *user_file = user_conf && *user_conf ? qvd_xstrdup(user_conf)
                                              : qvd_xasprintf("%s/client.conf", o.qvd_dir);
    cfg = client_conf_load("/etc/qvd/client.conf", user_file, config_file, env_get, set, nset);
    free(user_file);
    if (cfg == NULL) {
        client_fail(CLIENT_EXIT_USAGE, "%s", qvd_strerror());
        goto out;
    }
    if (client_conf_apply(cfg, &o) < 0) {
        client_fail(CLIENT_EXIT_USAGE, "%s", qvd_strerror());
        goto out;
    }
    if (o.keyboard == NULL) /* none configured: the user's own, as the session will show */
        o.keyboard = client_keyboard_detect();
    if (vm_id != NULL && (qvd_parse_long(vm_id, &o.vm_id) < 0 || o.vm_id < 1)) {
        client_fail(CLIENT_EXIT_USAGE,
                    "The virtual machine id \"%s\" is not valid: give a "
                    "positive number (--vm-id).",
                    vm_id);
        goto out;
    }
    if (o.app != NULL && (vm_id != NULL || o.list_vms || o.list_apps || !*o.app)) {
        client_fail(CLIENT_EXIT_USAGE, "--app takes an application's name or id, and goes "
                                       "without --vm-id, --list-vms and --list-apps.");
        goto out;
    }
    if (accept == NULL)
        o.accept_cert = CLIENT_ACCEPT_ASK;
    else if (strcmp(accept, "once") == 0)
        o.accept_cert = CLIENT_ACCEPT_ONCE;
    else if (strcmp(accept, "always") == 0)
        o.accept_cert = CLIENT_ACCEPT_ALWAYS;
    else {
        client_fail(CLIENT_EXIT_USAGE, "--accept-cert takes once or always, not \"%s\".", accept);
        goto out;
    }
    if (fp != NULL) {
        char norm[65];
        if (client_fp_normalize(fp, norm) < 0) {
            client_fail(CLIENT_EXIT_USAGE, "%s", qvd_strerror());
            goto out;
        }
        o.fingerprint = qvd_xstrdup(norm);
    }
    if (token == NULL && raw_token == NULL && getenv("QVDBEARERTOKEN") && *getenv("QVDBEARERTOKEN"))
        token = getenv("QVDBEARERTOKEN");
    if (token != NULL)
        o.token = qvd_xstrdup(token);
    else if (raw_token != NULL)
        o.token = client_base64(raw_token, strlen(raw_token));
    else if (o.user == NULL) {
        client_fail(CLIENT_EXIT_USAGE, "No user given: use --user LOGIN, QVDLOGIN or "
                                       "client.user.name (or --token).");
        goto out;
    } else if (get_password(&o, pwfile) != 0) {
        goto out;
    }
    code = client_run(&o);
out:
    qvd_config_free(cfg);
    client_opts_free(&o);
    return code;
}
