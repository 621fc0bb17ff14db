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
0 0.791
1 1.127
2 1.495
3 2.127
4 1289.547
EOD
$lb0_0 << EOD
0 0.321
1 0.703
2 1.015
3 1.455
4 1511.692
EOD
$l0_1 << EOD
0 303.103
1 497.663
2 1589.247
3 5505.023
4 10129.496
EOD
$lb0_1 << EOD
0 270.335
1 411.647
2 1277.951
3 4915.199
4 11332.639
EOD
$l0_2 << EOD
0 84.479
1 360.447
2 1003.519
3 3112.959
4 7064.092
EOD
$lb0_2 << EOD
0 70.655
1 358.399
2 954.367
3 2801.663
4 9606.25
EOD
set title 'concurrency 1'
set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 4 noopaque font ',11'
plot $l0_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb0_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l0_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:48845/0  asiocache', \
     $lb0_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:48845/0  raw hiredis pipelined', \
     $l0_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42270  asiocache', \
     $lb0_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42270  raw libmemcached sync'
$l1_0 << EOD
0 0.751
1 1.119
2 1.487
3 2.207
4 10148.243
EOD
$lb1_0 << EOD
0 0.401
1 0.743
2 1.063
3 1.479
4 398.32
EOD
$l1_1 << EOD
0 190.463
1 303.103
2 1859.583
3 3293.183
4 5257.288
EOD
$lb1_1 << EOD
0 280.575
1 610.303
2 1720.319
3 4980.735
4 9995.267
EOD
$l1_2 << EOD
0 174.079
1 352.255
2 2768.895
3 5013.503
4 7181.546
EOD
$lb1_2 << EOD
0 81.919
1 321.535
2 987.135
3 3751.935
4 9183.693
EOD
set title 'concurrency 64'
unset key
plot $l1_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb1_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l1_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:48845/0  asiocache', \
     $lb1_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:48845/0  raw hiredis pipelined', \
     $l1_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42270  asiocache', \
     $lb1_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42270  raw libmemcached sync'
$l2_0 << EOD
0 1.015
1 1.343
2 1.775
3 3.727
4 1473.694
EOD
$lb2_0 << EOD
0 0.421
1 0.831
2 1.207
3 1.759
4 1261.26
EOD
$l2_1 << EOD
0 2310.143
1 6422.527
2 13172.735
3 16383.999
4 18079.44
EOD
$lb2_1 << EOD
0 1548.287
1 2555.903
2 5406.719
3 12910.591
4 13107.28
EOD
$l2_2 << EOD
0 1712.127
1 3522.559
2 7700.479
3 17432.575
4 20352.469
EOD
$lb2_2 << EOD
0 73.215
1 356.351
2 733.183
3 3178.495
4 8875.386
EOD
set title 'concurrency 512'
unset key
plot $l2_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb2_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l2_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:48845/0  asiocache', \
     $lb2_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:48845/0  raw hiredis pipelined', \
     $l2_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42270  asiocache', \
     $lb2_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:42270  raw libmemcached sync'
unset multiplot
