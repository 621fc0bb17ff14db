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
0 0.331
1 0.703
2 1.087
3 1.503
4 265.023
EOD
$lb0_0 << EOD
0 0.17
1 0.371
2 0.643
3 0.995
4 605.698
EOD
$l0_1 << EOD
0 86.015
1 119.295
2 162.815
3 253.951
4 4181.329
EOD
$lb0_1 << EOD
0 79.359
1 105.983
2 144.383
3 227.327
4 2526.435
EOD
$l0_2 << EOD
0 85.503
1 120.319
2 240.639
3 585.727
4 2703.999
EOD
$lb0_2 << EOD
0 65.023
1 90.623
2 137.215
3 319.487
4 2491.504
EOD
set title 'concurrency 1'
set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 4 noopaque font ',11'
plot $l0_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb0_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l0_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:28528/0  asiocache', \
     $lb0_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:28528/0  raw hiredis pipelined', \
     $l0_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:23363  asiocache', \
     $lb0_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:23363  raw libmemcached sync'
$l1_0 << EOD
0 0.361
1 0.683
2 1.015
3 1.439
4 238.543
EOD
$lb1_0 << EOD
0 0.281
1 0.571
2 0.923
3 1.343
4 356.097
EOD
$l1_1 << EOD
0 201.727
1 272.383
2 518.143
3 1671.167
4 2845.408
EOD
$lb1_1 << EOD
0 195.583
1 245.759
2 321.535
3 1081.343
4 2971.345
EOD
$l1_2 << EOD
0 160.767
1 257.023
2 421.887
3 1802.239
4 4423.968
EOD
$lb1_2 << EOD
0 77.311
1 107.007
2 159.743
3 503.807
4 2487.187
EOD
set title 'concurrency 64'
unset key
plot $l1_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb1_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l1_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:28528/0  asiocache', \
     $lb1_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:28528/0  raw hiredis pipelined', \
     $l1_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:23363  asiocache', \
     $lb1_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:23363  raw libmemcached sync'
$l2_0 << EOD
0 0.623
1 0.991
2 1.335
3 1.799
4 105.306
EOD
$lb2_0 << EOD
0 0.16
1 0.401
2 0.803
3 1.183
4 453.011
EOD
$l2_1 << EOD
0 794.623
1 1212.415
2 1613.823
3 3227.647
4 5062.174
EOD
$lb2_1 << EOD
0 716.799
1 929.791
2 1089.535
3 3489.791
4 4106.772
EOD
$l2_2 << EOD
0 811.007
1 1245.183
2 1933.311
3 2883.583
4 4552.829
EOD
$lb2_2 << EOD
0 65.279
1 91.647
2 138.239
3 218.111
4 4513.941
EOD
set title 'concurrency 512'
unset key
plot $l2_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb2_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l2_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:28528/0  asiocache', \
     $lb2_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:28528/0  raw hiredis pipelined', \
     $l2_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:23363  asiocache', \
     $lb2_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:23363  raw libmemcached sync'
unset multiplot
