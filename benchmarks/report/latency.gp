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
0 1.479
1 2.159
2 3.551
3 34.559
4 30293.427
EOD
$lb0_0 << EOD
0 1.247
1 1.903
2 3.279
3 33.279
4 28111.408
EOD
$lb0_1 << EOD
0 28.031
1 38.911
2 68.095
3 97.791
4 8203.395
EOD
$lb0_2 << EOD
0 30.079
1 51.455
2 1105.919
3 5865.471
4 17426.962
EOD
set title 'concurrency 1'
set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 4 noopaque font ',11'
plot $l0_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb0_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $lb0_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:44898/0  raw hiredis pipelined', \
     $lb0_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:35253  raw libmemcached sync'
$l1_0 << EOD
0 1.167
1 1.783
2 2.863
3 28.415
4 36058.102
EOD
$lb1_0 << EOD
0 0.863
1 1.423
2 2.223
3 22.911
4 32095.395
EOD
$lb1_1 << EOD
0 228.351
1 1466.367
2 6127.615
3 10289.151
4 31955.954
EOD
$lb1_2 << EOD
0 30.591
1 42.495
2 93.183
3 1441.791
4 12423.265
EOD
set title 'concurrency 64'
unset key
plot $l1_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb1_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $lb1_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:44898/0  raw hiredis pipelined', \
     $lb1_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:35253  raw libmemcached sync'
$l2_0 << EOD
0 1.479
1 2.039
2 3.039
3 35.583
4 28098.153
EOD
$lb2_0 << EOD
0 1.003
1 1.567
2 2.495
3 23.679
4 40757.53
EOD
$lb2_1 << EOD
0 1384.447
1 4685.823
2 11993.087
3 17039.359
4 19079.93
EOD
$lb2_2 << EOD
0 29.183
1 41.215
2 78.335
3 1916.927
4 13704.305
EOD
set title 'concurrency 512'
unset key
plot $l2_0 using 1:2 with linespoints lw 2.5 pt 7 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $lb2_0 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $lb2_1 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#d62728' title 'redis://127.0.0.1:44898/0  raw hiredis pipelined', \
     $lb2_2 using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '#2ca02c' title 'memcached://127.0.0.1:35253  raw libmemcached sync'
unset multiplot
