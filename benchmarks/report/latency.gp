set encoding utf8
set terminal svg size 1260,640 dynamic enhanced font 'DejaVu Sans,13' background rgb 'white'
set output 'latency.svg'
set grid xtics ytics mytics lc rgb '#dddddd'
set border lc rgb '#555555'
set multiplot layout 1,3 title "Latency percentiles per backend (lower is better; solid: asiocache, dashed: raw client)\n{/*0.75 mix get=90,set=10, 10000 keys (uniform), values 100 B, 1 thread(s)}"
set yrange [0.1:10000]
set logscale y
set ytics ('10 ns' 0.01, '100 ns' 0.1, '1 µs' 1, '10 µs' 10, '100 µs' 100, '1 ms' 1000, '10 ms' 10000, '100 ms' 100000, '1 s' 1e6, '10 s' 1e7)
set xtics ('p50' 0, 'p90' 1, 'p99' 2, 'p99.9' 3, 'max' 4)
set xrange [-0.3:4.3]
set xlabel 'percentile'
set ylabel 'latency (log scale)'
set bmargin 9
$l0_0 << EOD
0 0.161
1 0.301
2 0.501
3 0.731
4 355.557
EOD
$lb0_0 << EOD
0 0.15
1 0.231
2 0.401
3 0.591
4 506.882
EOD
$l0_1 << EOD
0 76.287
1 102.911
2 141.311
3 244.735
4 4170.587
EOD
$lb0_1 << EOD
0 74.239
1 98.815
2 139.263
3 240.639
4 4102.466
EOD
$l0_2 << EOD
0 66.047
1 96.767
2 142.335
3 284.671
4 1521.811
EOD
$lb0_2 << EOD
0 68.095
1 94.207
2 141.311
3 294.911
4 3174.585
EOD
set title 'concurrency 1'
set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 4 noopaque font ',11'
plot $l0_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb0_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l0_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:37281/0  asiocache', \
     $lb0_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:37281/0  raw hiredis pipelined', \
     $l0_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:38515  asiocache', \
     $lb0_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:38515  raw libmemcached sync'
$l1_0 << EOD
0 0.17
1 0.321
2 0.623
3 0.995
4 216.391
EOD
$lb1_0 << EOD
0 0.15
1 0.281
2 0.491
3 0.763
4 172.081
EOD
$l1_1 << EOD
0 112.127
1 166.911
2 233.471
3 352.255
4 2405.616
EOD
$lb1_1 << EOD
0 137.215
1 211.967
2 266.239
3 405.503
4 4106.858
EOD
$l1_2 << EOD
0 101.375
1 175.103
2 264.191
3 364.543
4 3988.553
EOD
$lb1_2 << EOD
0 59.647
1 84.991
2 134.143
3 255.999
4 3913.131
EOD
set title 'concurrency 64'
unset key
plot $l1_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb1_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l1_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:37281/0  asiocache', \
     $lb1_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:37281/0  raw hiredis pipelined', \
     $l1_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:38515  asiocache', \
     $lb1_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:38515  raw libmemcached sync'
$l2_0 << EOD
0 0.201
1 0.501
2 0.823
3 1.319
4 299.374
EOD
$lb2_0 << EOD
0 0.18
1 0.501
2 0.895
3 1.455
4 395.146
EOD
$l2_1 << EOD
0 737.279
1 1187.839
2 1564.671
3 2932.735
4 7004.814
EOD
$lb2_1 << EOD
0 593.919
1 782.335
2 913.407
3 2039.807
4 3613.928
EOD
$l2_2 << EOD
0 667.647
1 913.407
2 1294.335
3 1990.655
4 4929.207
EOD
$lb2_2 << EOD
0 58.367
1 84.479
2 125.951
3 179.199
4 2652.612
EOD
set title 'concurrency 512'
unset key
plot $l2_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb2_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l2_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:37281/0  asiocache', \
     $lb2_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:37281/0  raw hiredis pipelined', \
     $l2_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:38515  asiocache', \
     $lb2_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:38515  raw libmemcached sync'
unset multiplot
