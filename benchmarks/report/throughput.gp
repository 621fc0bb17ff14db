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
1 788946.0940872347
64 678981.8184869657
512 746357.7122484222
EOD
$b0 << EOD
1 1283549.3478994023
64 1090144.6189927198
512 1354006.1499460284
EOD
$t1 << EOD
1 16073.357509685675
64 298816.49276869954
512 283702.338115867
EOD
$b1 << EOD
1 22384.31121071925
64 302431.83381370734
512 318818.66665442067
EOD
$t2 << EOD
1 13748.154364525199
64 141022.92649209843
512 79315.10198610809
EOD
$b2 << EOD
1 26106.607056403893
64 15711.952540581653
512 22972.25423133811
EOD
plot $t0 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $b0 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $t1 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#d62728' title 'redis://127.0.0.1:20048/0  asiocache', \
     $b1 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#d62728' title 'redis://127.0.0.1:20048/0  raw hiredis pipelined', \
     $t2 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42479  asiocache', \
     $b2 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42479  raw libmemcached sync'
