# What Debian's boot does before lighttpd starts and `isola rootfs` does
# not (no maintainer script or systemd runs there): create the directories
# of the packages' tmpfiles.d "d" lines with their mode and owner
# (lighttpd's /var/log/lighttpd and /var/cache/lighttpd belong to www-data),
# as `systemd-tmpfiles --create` would. Then run the command given.
# Usage: sh tmpfiles-then.sh COMMAND [ARGS...]
perl -e '
    for my $conf (glob "/usr/lib/tmpfiles.d/*.conf") {
        open my $in, "<", $conf or next;
        while (<$in>) {
            my ($type, $path, $mode, $user, $group) = split;
            next unless defined $type && $type eq "d" && $path =~ m{^/};
            mkdir $path;
            chmod oct($mode), $path if defined $mode && $mode ne "-";
            my $uid = defined $user && $user ne "-" ? scalar getpwnam($user) : 0;
            my $gid = defined $group && $group ne "-" ? scalar getgrnam($group) : 0;
            chown $uid // 0, $gid // 0, $path;
        }
    }' || exit 1
exec "$@"
