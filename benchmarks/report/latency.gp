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
0 0.18
1 0.341
2 0.571
3 0.871
4 141.159
EOD
$lb0_0 << EOD
0 0.17
1 0.421
2 0.783
3 1.143
4 468.916
EOD
$l0_1 << EOD
0 91.135
1 116.223
2 158.719
3 337.919
4 7476.603
EOD
$lb0_1 << EOD
0 77.311
1 103.935
2 138.239
3 230.399
4 2594.056
EOD
$l0_2 << EOD
0 80.383
1 107.007
2 155.647
3 376.831
4 4174.698
EOD
$lb0_2 << EOD
0 67.071
1 95.743
2 155.647
3 520.191
4 4702.08
EOD
set title 'concurrency 1'
set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 4 noopaque font ',11'
plot $l0_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb0_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l0_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:23992/0  asiocache', \
     $lb0_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:23992/0  raw hiredis pipelined', \
     $l0_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:45833  asiocache', \
     $lb0_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:45833  raw libmemcached sync'
$l1_0 << EOD
0 0.271
1 0.543
2 0.851
3 1.175
4 133.038
EOD
$lb1_0 << EOD
0 0.16
1 0.311
2 0.543
3 0.743
4 4047.339
EOD
$l1_1 << EOD
0 139.263
1 205.823
2 286.719
3 368.639
4 2536.34
EOD
$lb1_1 << EOD
0 175.103
1 237.567
2 290.815
3 655.359
4 4009.173
EOD
$l1_2 << EOD
0 151.551
1 235.519
2 368.639
3 626.687
4 2640.595
EOD
$lb1_2 << EOD
0 60.159
1 86.015
2 127.999
3 301.055
4 2574.106
EOD
set title 'concurrency 64'
unset key
plot $l1_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb1_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l1_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:23992/0  asiocache', \
     $lb1_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:23992/0  raw hiredis pipelined', \
     $l1_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:45833  asiocache', \
     $lb1_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:45833  raw libmemcached sync'
$l2_0 << EOD
0 0.261
1 0.531
2 0.875
3 1.375
4 186.827
EOD
$lb2_0 << EOD
0 0.251
1 0.551
2 0.863
3 1.183
4 104.445
EOD
$l2_1 << EOD
0 700.415
1 884.735
2 1261.567
3 2473.983
4 3085.073
EOD
$lb2_1 << EOD
0 663.551
1 892.927
2 999.423
3 1785.855
4 5659.53
EOD
$l2_2 << EOD
0 798.719
1 1236.991
2 1982.463
3 3358.719
4 5276.933
EOD
$lb2_2 << EOD
0 57.343
1 78.847
2 119.295
3 171.007
4 2750.767
EOD
set title 'concurrency 512'
unset key
plot $l2_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb2_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l2_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:23992/0  asiocache', \
     $lb2_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:23992/0  raw hiredis pipelined', \
     $l2_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:45833  asiocache', \
     $lb2_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:45833  raw libmemcached sync'
unset multiplot
