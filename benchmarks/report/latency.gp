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
0 0.17
1 0.361
2 0.611
3 0.923
4 144.955
EOD
$lb0_0 << EOD
0 0.16
1 0.291
2 0.511
3 0.783
4 561.682
EOD
$l0_1 << EOD
0 78.335
1 99.327
2 143.359
3 231.423
4 2857.801
EOD
$lb0_1 << EOD
0 68.095
1 92.671
2 142.335
3 307.199
4 2444.344
EOD
$l0_2 << EOD
0 74.239
1 105.471
2 169.983
3 667.647
4 8738.845
EOD
$lb0_2 << EOD
0 69.119
1 105.471
2 290.815
3 999.423
4 4255.658
EOD
set title 'concurrency 1'
set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 4 noopaque font ',11'
plot $l0_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb0_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l0_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:32229/0  asiocache', \
     $lb0_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:32229/0  raw hiredis pipelined', \
     $l0_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:27263  asiocache', \
     $lb0_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:27263  raw libmemcached sync'
$l1_0 << EOD
0 0.631
1 1.063
2 1.727
3 3.455
4 4148.169
EOD
$lb1_0 << EOD
0 0.281
1 0.651
2 1.071
3 2.159
4 1069.435
EOD
$l1_1 << EOD
0 184.319
1 270.335
2 712.703
3 2473.983
4 5961.707
EOD
$lb1_1 << EOD
0 214.015
1 458.751
2 954.367
3 3440.639
4 8443.567
EOD
$l1_2 << EOD
0 165.887
1 245.759
2 387.071
3 1302.527
4 3878.679
EOD
$lb1_2 << EOD
0 65.535
1 91.135
2 134.143
3 393.215
4 2857.596
EOD
set title 'concurrency 64'
unset key
plot $l1_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb1_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l1_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:32229/0  asiocache', \
     $lb1_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:32229/0  raw hiredis pipelined', \
     $l1_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:27263  asiocache', \
     $lb1_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:27263  raw libmemcached sync'
$l2_0 << EOD
0 0.17
1 0.381
2 0.623
3 0.943
4 141.349
EOD
$lb2_0 << EOD
0 0.16
1 0.351
2 0.671
3 1.063
4 273.065
EOD
$l2_1 << EOD
0 1163.263
1 2490.367
2 3899.391
3 5799.935
4 9934.186
EOD
$lb2_1 << EOD
0 770.047
1 905.215
2 1036.287
3 1908.735
4 3418.288
EOD
$l2_2 << EOD
0 757.759
1 1097.727
2 1523.711
3 3047.423
4 8022.412
EOD
$lb2_2 << EOD
0 68.607
1 100.351
2 160.767
3 405.503
4 4677.739
EOD
set title 'concurrency 512'
unset key
plot $l2_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb2_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $l2_1 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#d62728' title 'redis://127.0.0.1:32229/0  asiocache', \
     $lb2_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:32229/0  raw hiredis pipelined', \
     $l2_2 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#2ca02c' title 'memcached://127.0.0.1:27263  asiocache', \
     $lb2_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:27263  raw libmemcached sync'
unset multiplot
