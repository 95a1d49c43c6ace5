# lighttpd the way an init script starts it (no -D: it forks, the parent
# exits, the daemon writes /run/lighttpd.pid), fetched over loopback inside
# the guest, then stopped with SIGTERM. The root has dash and perl, not
# coreutils: sleeping and HTTP are perl's.
set -u
nap() { perl -e 'select(undef, undef, undef, 0.2)'; }
echo '<html>served over loopback inside Isola</html>' > /var/www/html/index.html
/usr/sbin/lighttpd -tt -f /etc/lighttpd/lighttpd.conf && echo "config ok"
/usr/sbin/lighttpd -f /etc/lighttpd/lighttpd.conf; echo "daemon started $?"
i=0
while [ ! -s /run/lighttpd.pid ] && [ $i -lt 100 ]; do nap; i=$((i + 1)); done
read -r pid < /run/lighttpd.pid
[ "$pid" -gt 1 ] && echo "pid file names the daemon"
perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:80") or die "connect: $!";
    print $s "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
    while (<$s>) { s/\r?\n$//; print "http: $_\n" }'
kill -TERM "$pid" && echo "sent SIGTERM"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do nap; i=$((i + 1)); done
kill -0 "$pid" 2>/dev/null && echo "still running" || echo "daemon gone"
while read -r line; do echo "log: $line"; done < /var/log/lighttpd/error.log
