set encoding utf8
set terminal svg size 960,600 dynamic enhanced font 'DejaVu Sans,13' background rgb 'white'
set output 'throughput.svg'
set grid xtics ytics mytics lc rgb '#dddddd'
set border lc rgb '#555555'
set title "Throughput against concurrency (higher is better; solid: asiocache, dashed: raw client)\n{/*0.75 mix get=90,set=10, 10000 keys (uniform), values 100 B, 1 thread(s)}"
set xlabel 'concurrency: operations in flight (log scale)'
set ylabel 'throughput: operations per second (log scale)'
set logscale xy
set format y '%.0s%c'
set bmargin 8
set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 3 noopaque font ',11'
set xtics (1, 64, 512)
set xrange [0.6666666666666666:768]
$t0 << EOD
1 1225494.26286686
64 1263061.9945819199
512 910379.1154708493
EOD
$b0 << EOD
1 2511125.0643198015
64 2233840.9856209117
512 1967593.529405196
EOD
$t1 << EOD
1 3533.890081882893
64 255504.02380016432
512 162995.48018670615
EOD
$b1 << EOD
1 4328.429514520078
64 163764.409598864
512 280785.1431368836
EOD
$t2 << EOD
1 6278.367482497547
64 229224.62470527482
512 242392.66334111214
EOD
$b2 << EOD
1 6764.659839079993
64 7346.601169419659
512 6862.5569072207645
EOD
plot $t0 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $b0 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $t1 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#d62728' title 'redis://127.0.0.1:48845/0  asiocache', \
     $b1 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#d62728' title 'redis://127.0.0.1:48845/0  raw hiredis pipelined', \
     $t2 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42270  asiocache', \
     $b2 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42270  raw libmemcached sync'
