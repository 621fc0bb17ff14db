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
1 1891397.6576570238
64 2187133.422326612
512 3199796.7327225897
EOD
$b0 << EOD
1 3763738.977417566
64 4853597.050239507
512 5043418.097993782
EOD
$t1 << EOD
1 10966.877637062766
64 425445.1208145632
512 614439.7954504217
EOD
$b1 << EOD
1 13486.31954630131
64 357964.0333031684
512 656877.0417803434
EOD
$t2 << EOD
1 10762.298949493324
64 491313.0986381144
512 496209.2078254975
EOD
$b2 << EOD
1 12316.98096410592
64 13828.49920781544
512 12678.294427795001
EOD
plot $t0 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $b0 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $t1 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#d62728' title 'redis://127.0.0.1:33036/0  asiocache', \
     $b1 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#d62728' title 'redis://127.0.0.1:33036/0  raw hiredis pipelined', \
     $t2 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#2ca02c' title 'memcached://127.0.0.1:25699  asiocache', \
     $b2 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#2ca02c' title 'memcached://127.0.0.1:25699  raw libmemcached sync'
