set encoding utf8
set terminal svg size 1260,640 dynamic enhanced font 'DejaVu Sans,13' background rgb 'white'
set output 'latency.svg'
set grid xtics ytics mytics lc rgb '#dddddd'
set border lc rgb '#555555'
set multiplot layout 1,3 title "Latency percentiles per backend (lower is better; solid: asiocache, dashed: raw client)\n{/*0.75 mix get=90,set=10, 10000 keys (uniform), values 100 B, 1 thread(s)}"
set yrange [0.1:100000]
set logscale y
set ytics ('10 ns' 0.01, '100 ns' 0.1, '1 µs' 1, '10 µs' 10, '100 µs' 100, '1 ms' 1000, '10 ms' 10000, '100 ms' 100000, '1 s' 1e6, '10 s' 1e7)
set xtics ('p50' 0, 'p90' 1, 'p99' 2, 'p99.9' 3, 'max' 4)
set xrange [-0.3:4.3]
set xlabel 'percentile'
set ylabel 'latency (log scale)'
set bmargin 9
$l0_0 << EOD
0 0.391
1 0.771
2 1.215
3 1.775
4 1071.959
EOD
$lb0_0 << EOD
0 0.19
1 0.341
2 0.643
3 0.975
4 185.257
EOD
$l0_1 << EOD
0 30.079
1 35.583
2 54.527
3 90.111
4 1126.271
EOD
$lb0_1 << EOD
0 26.751
1 28.543
2 44.031
3 74.239
4 4072.814
EOD
$l0_2 << EOD
0 46.335
1 59.647
2 80.895
3 127.999
4 2276.386
EOD
$lb0_2 << EOD
0 25.855
1 32.639
2 52.223
3 86.527
4 4077.542
EOD
set title 'concurrency 1'
set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 4 noopaque font ',11'
plot $l0_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb0_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l0_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:51394/0  asiocache', \
     $lb0_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:51394/0  raw hiredis pipelined', \
     $l0_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:40374  asiocache', \
     $lb0_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:40374  raw libmemcached sync'
$l1_0 << EOD
0 0.281
1 0.543
2 0.935
3 1.367
4 2088.294
EOD
$lb1_0 << EOD
0 0.18
1 0.25
2 0.491
3 0.775
4 178.866
EOD
$l1_1 << EOD
0 134.143
1 161.791
2 226.303
3 323.583
4 4301.262
EOD
$lb1_1 << EOD
0 119.807
1 145.407
2 193.535
3 266.239
4 4186.427
EOD
$l1_2 << EOD
0 356.351
1 532.479
2 741.375
3 1245.183
4 4148.615
EOD
$lb1_2 << EOD
0 25.855
1 32.511
2 51.455
3 78.335
4 1999.768
EOD
set title 'concurrency 64'
unset key
plot $l1_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb1_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l1_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:51394/0  asiocache', \
     $lb1_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:51394/0  raw hiredis pipelined', \
     $l1_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:40374  asiocache', \
     $lb1_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:40374  raw libmemcached sync'
$l2_0 << EOD
0 0.771
1 1.287
2 1.823
3 12.415
4 111.408
EOD
$lb2_0 << EOD
0 0.691
1 1.207
2 1.799
3 7.039
4 4096.829
EOD
$l2_1 << EOD
0 2326.527
1 3047.423
2 3850.239
3 5341.183
4 7065.633
EOD
$lb2_1 << EOD
0 1245.183
1 1359.871
2 1523.711
3 2326.527
4 4767.605
EOD
$l2_2 << EOD
0 7798.783
1 10158.079
2 11730.943
3 13172.735
4 14065.923
EOD
$lb2_2 << EOD
0 25.727
1 31.615
2 48.895
3 89.087
4 1973.509
EOD
set title 'concurrency 512'
unset key
plot $l2_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb2_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l2_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:51394/0  asiocache', \
     $lb2_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:51394/0  raw hiredis pipelined', \
     $l2_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:40374  asiocache', \
     $lb2_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:40374  raw libmemcached sync'
unset multiplot
