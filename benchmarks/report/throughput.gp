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
1 160697.94005966836
64 239045.43347878067
512 238763.2486093684
EOD
$b0 << EOD
1 150284.2362421583
64 439836.2358016201
512 220146.33958106147
EOD
$b1 << EOD
1 33159.064932808746
64 110614.65453487304
512 202516.31049539338
EOD
$b2 << EOD
1 13748.589513361116
64 25925.005065462876
512 26791.972457852316
EOD
plot $t0 using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '#1f77b4' title 'memory://  asiocache', \
     $b0 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#1f77b4' title 'memory://  std::unordered\_map+mutex', \
     $b1 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#d62728' title 'redis://127.0.0.1:44898/0  raw hiredis pipelined', \
     $b2 using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '#2ca02c' title 'memcached://127.0.0.1:35253  raw libmemcached sync'
