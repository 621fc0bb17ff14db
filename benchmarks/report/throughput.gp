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
1 2434819.442781743
64 2357400.5058922293
512 1447529.4887926122
EOD
$b0 << EOD
1 4483867.648016389
64 2976421.318622451
512 4176907.106897846
EOD
$t1 << EOD
1 11042.415807100679
64 303127.03322895255
512 596945.5086342067
EOD
$b1 << EOD
1 12007.530427511336
64 314828.0572167156
512 661895.6385804458
EOD
$t2 << EOD
1 10661.685912063873
64 366232.04374296474
512 580372.1880590969
EOD
$b2 << EOD
1 14244.337935045145
64 12330.126446489177
512 14400.100152419069
EOD
plot $t0 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $b0 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $t1 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#d62728' title 'redis://127.0.0.1:28528/0  asiocache', \
     $b1 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#d62728' title 'redis://127.0.0.1:28528/0  raw hiredis pipelined', \
     $t2 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#2ca02c' title 'memcached://127.0.0.1:23363  asiocache', \
     $b2 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#2ca02c' title 'memcached://127.0.0.1:23363  raw libmemcached sync'
