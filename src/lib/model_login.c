/* model_login.c: logins a desktop user may not have, because they name system accounts of
 * the desktops' Debian system (the session runs as the user of the login's name). The VMA
 * refuses them again in every VM; this rule tells the administrator at once. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "model_int.h"
#include "util.h"

/* Debian's base-passwd users and groups, the accounts of common Debian packages, and the
 * groups that grant power (sudo, adm, wheel...); a trailing '*' matches a prefix. */
/* clang-format off */
static const char *const reserved[] = {
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "nogroup", "nfsnobody",
    "adm", "tty", "disk", "kmem", "dialout", "fax", "voice", "cdrom", "floppy", "tape",
    "sudo", "audio", "dip", "operator", "src", "shadow", "utmp", "video", "sasl", "plugdev",
    "staff", "users", "input", "render", "kvm", "sgx", "netdev", "lpadmin", "scanner",
    "bluetooth", "crontab", "ssh", "ssl-cert", "wheel", "admin", "systemd-*", "_*", "debian-*",
    "messagebus", "sshd", "polkitd", "avahi", "avahi-autoipd", "colord", "dnsmasq", "pulse",
    "pulse-access", "rtkit", "saned", "usbmux", "lightdm", "gdm", "sddm", "geoclue",
    "speech-dispatcher", "hplip", "cups-pk-helper", "kernoops", "tss", "uuidd", "tcpdump",
    "statd", "ntp", "ntpsec", "chrony", "postfix", "postdrop", "postgres", "mysql", "redis",
    "nslcd", "ftp", "bind", "named", "unbound", "dhcpcd", "nm-openvpn", "fwupd-refresh",
    "syslog", "libvirt", "libvirt-qemu", "qemu", "docker", "lxd", "xrdp", "x2go", "clamav",
};
/* clang-format on */

/* name matches pattern (case-insensitively; "x*" matches every name starting with x) */
static bool
matches(const char *pattern, const char *name, size_t plen)
{
    if (plen > 0 && pattern[plen - 1] == '*')
        return strncasecmp(pattern, name, plen - 1) == 0;
    return strlen(name) == plen && strncasecmp(pattern, name, plen) == 0;
}

int
qvd_model_login_reserved(struct qvd_config *cfg, const char *login)
{
    const char *extra = qvd_config_get(cfg, "model.user.login.reserved");
    const char *at = strchr(login, '@');
    char *name = at ? qvd_xstrndup(login, (size_t)(at - login)) : qvd_xstrdup(login);
    int rc = 0;

    for (size_t i = 0; i < QVD_ARRAY_LEN(reserved) && rc == 0; i++)
        if (matches(reserved[i], name, strlen(reserved[i])))
            rc = qvd_model_fail(QVD_MODEL_INVALID,
                                "login '%s' names a system account of the desktops' system"
                                " (matches '%s'): its session would run as that account;"
                                " choose another login",
                                name, reserved[i]);
    /* the option's list: names separated by commas, spaces around them ignored */
    for (const char *p = extra ? extra : ""; *p && rc == 0;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len > 0 && matches(p, name, len))
            rc = qvd_model_fail(QVD_MODEL_INVALID,
                                "login '%s' is reserved (model.user.login.reserved): choose"
                                " another login",
                                name);
        p += strcspn(p, ",");
    }
    free(name);
    return rc;
}
